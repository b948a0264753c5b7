"""The option-table validator, against argparse itself and against the engines' recorded verdicts.

Two sources of truth, neither needing an engine installed:
- a toy parser with argparse's corner cases, described by tools/engine_options.py the way it
  describes an engine's parser, and replayed against real argparse on the same argv;
- the verdicts the real SGLang and vLLM parsers gave, recorded beside each table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from autotuner.flavors import option_table
from autotuner.flavors.argparse_replay import replay
from autotuner.flavors.option_table import (
    OPTIONS_DIR,
    UnknownTable,
    check_argv,
    deprecation_warnings,
    load_table,
    recorded_versions,
)

REPO = Path(__file__).resolve().parents[2]
TABLES = sorted(p for p in OPTIONS_DIR.glob("*.json") if not p.name.endswith(".verdicts.json"))
MAX_TABLE_BYTES = 300_000


def load_tool():
    """tools/parser_table.py (what tools/engine_options.py records tables with), imported by path
    (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("parser_table", REPO / "tools" / "parser_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["parser_table"] = module
    spec.loader.exec_module(module)
    return module


parser_table = load_tool()


def engine_and_version(path: Path) -> tuple[str, str]:
    engine, version = path.name.removesuffix(".json").split("-", 1)
    return engine, version


# -- the recorded tables -----------------------------------------------------------------------

def test_the_supported_versions_are_recorded():
    assert {"0.5.19", "0.5.23"} <= set(recorded_versions("sglang"))
    assert recorded_versions("vllm")


def unchecked_value_of(table: dict, argv: list[str]) -> bool:
    """Whether ``argv`` gives a value to an option whose converter the table could not model."""
    return any(option_table.option_for(table, arg) and option_table.option_for(table, arg).get("type") == "unchecked"
               for arg in argv)


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.name)
def test_recorded_verdicts_are_replayed_exactly(path: Path):
    """Every argv the real parser judged gets the same verdict from the table: the same error text,
    and a warning wherever the engine warned. The one allowed difference: a value for an option
    whose converter is recorded "unchecked" passes the table even where the engine rejects it."""
    engine, version = engine_and_version(path)
    table = load_table(engine, version)
    verdicts = json.loads(path.with_name(f"{engine}-{version}.verdicts.json").read_text())["verdicts"]
    assert len(verdicts) >= len(table["options"])
    wrong = []
    for case in verdicts:
        got = replay(table, case["argv"])
        expected = [case["error"]] if case["error"] else []
        if got.errors[:1] == [] and expected and unchecked_value_of(table, case["argv"]):
            continue
        if got.errors[:1] != expected or (case["warned"] and not got.warnings):
            wrong.append((case["argv"], case["error"], case["warned"], got))
    assert not wrong, f"{len(wrong)} of {len(verdicts)} differ, first: {wrong[:3]}"


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.name)
def test_table_is_small_and_self_describing(path: Path):
    assert path.stat().st_size < MAX_TABLE_BYTES
    table = json.loads(path.read_text())
    assert (table["engine"], table["version"]) == engine_and_version(path)
    assert table["recorded_with"]["entry_point"]
    for option in table["options"]:
        assert option["flags"] and option["dest"]
        assert len(option.get("help", "")) <= parser_table.HELP_CHARS


def test_sglang_0_5_23_rejects_the_cuda_graph_flag_0_5_19_accepted_with_a_warning():
    """The case that opened issue 10: --cuda-graph-max-bs became an ambiguous prefix."""
    argv = ["--model-path", "m", "--cuda-graph-max-bs", "256"]
    old, new = load_table("sglang", "0.5.19"), load_table("sglang", "0.5.23")
    assert check_argv(old, argv) == []
    assert deprecation_warnings(old, argv)
    assert check_argv(new, argv) == [
        "ambiguous option: --cuda-graph-max-bs could match --cuda-graph-max-bs-decode, "
        "--cuda-graph-max-bs-prefill"]


def test_vllm_table_knows_its_boolean_pairs_and_short_flags():
    table = load_table("vllm", "0.33.0")
    for argv in (["--enable-chunked-prefill"], ["--no-enable-chunked-prefill"], ["--disable-chunked-prefill"],
                 ["-tp", "2"], ["--tensor_parallel_size", "2"], ["--max-num-batched-tokens", "8k"]):
        assert check_argv(table, argv) == [], argv
    assert check_argv(table, ["--scheduling-policy", "lpm"]) == [
        "argument --scheduling-policy: invalid choice: 'lpm' (choose from 'fcfs', 'priority')"]


def test_sglang_gpu_defaults_were_computed_by_sglang():
    """The recorded defaults come from SGLang's own resolution on each faked GPU, scenario by scenario."""
    for version in ("0.5.19", "0.5.23"):
        defaults = load_table("sglang", version)["gpu_defaults"]
        for gpu in ("H100", "H200"):
            scenarios = defaults[gpu]
            assert scenarios["tp1"]["resolved"]["attention_backend"] == "fa3"
            assert scenarios["tp1 kv fp8_e5m2"]["resolved"]["attention_backend"] == "triton"
            assert "colon" in scenarios["tp1 served name with colon"]["error"]
        assert defaults["H100"]["tp1"]["resolved"]["mem_fraction_static"] == 0.83
        assert defaults["H200"]["tp1"]["resolved"]["mem_fraction_static"] == 0.903


def test_unknown_version_names_the_recorded_ones():
    with pytest.raises(UnknownTable, match=r"sglang 0\.4\.0; recorded versions: .*0\.5\.19"):
        load_table("sglang", "0.4.0")


# -- the validator against argparse itself -----------------------------------------------------

def toy_parser() -> argparse.ArgumentParser:
    """argparse's corner cases in one parser: prefixes, flags, nargs, choices, types, groups."""
    parser = argparse.ArgumentParser(prog="toy")
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--tp-size", "--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--cuda-graph-max-bs-decode", type=int)
    parser.add_argument("--cuda-graph-max-bs-prefill", type=int)
    parser.add_argument("--mem-fraction-static", type=float)
    parser.add_argument("--schedule-policy", choices=["lpm", "fcfs"], default="fcfs")
    parser.add_argument("--page-size", type=int, choices=[1, 16, 64])
    parser.add_argument("--disable-radix-cache", action="store_true")
    parser.add_argument("--enable-mixed-chunk", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--cuda-graph-bs", type=int, nargs="+")
    parser.add_argument("--json-config", type=json.loads)
    parser.add_argument("-v", action="count", default=0)
    parser.add_argument("-q", action="store_true")
    parser.add_argument("--old-flag", action="store_true", help="Deprecated: use --new-flag.")
    exclusive = parser.add_mutually_exclusive_group()
    exclusive.add_argument("--fast", action="store_true")
    exclusive.add_argument("--slow", action="store_true")
    return parser


TOY_ARGV = [
    [], ["--tp-size", "2"], ["--tp", "2"], ["--tensor", "2"], ["--t", "2"], ["--tp-size"],
    ["--tp-size", "two"], ["--tp-size=4"], ["--tp-size", "-1"], ["--mem-fraction-static", "-0.5"],
    ["--cuda-graph-max-bs", "8"], ["--cuda-graph-max-bs-d", "8"], ["--cuda-graph-max-bs-decode=x"],
    ["--schedule-policy", "lpm"], ["--schedule-policy", "random"], ["--page-size", "16"],
    ["--page-size", "8"], ["--disable-radix-cache"], ["--disable-radix-cache=1"],
    ["--enable-mixed-chunk"], ["--no-enable-mixed-chunk"], ["--cuda-graph-bs", "1", "2", "x"],
    ["--cuda-graph-bs"], ["--json-config", "{bad"], ["--json-config", '{"a": 1}'], ["-vv"], ["-vq"],
    ["-vx"], ["--fast", "--slow"], ["--slow", "--fast"], ["--old-flag"], ["stray"], ["--nope"],
    ["--nope=1", "--tp-size", "x"], ["--", "--tp-size", "2"], ["--tp-size", "--page-size", "1"],
    ["--model-path"],
]


@pytest.fixture(scope="module")
def toy_table() -> dict:
    return parser_table.describe_parser(toy_parser(), "toy", "0")


@pytest.mark.parametrize("argv", TOY_ARGV, ids=lambda a: " ".join(a) or "empty")
def test_replay_matches_argparse(toy_table, argv):
    full = ["--model-path", "m"] + argv if argv != ["--model-path"] else argv
    expected, _ = parser_table.real_verdict(toy_parser(), full)
    got = replay(toy_table, full)
    assert got.errors[:1] == ([expected] if expected else [])


def test_required_flag_missing_is_reported(toy_table):
    assert check_argv(toy_table, ["--tp-size", "2"]) == ["the following arguments are required: --model-path"]


def test_deprecated_flags_warn_and_pass(toy_table):
    argv = ["--model-path", "m", "--old-flag"]
    assert check_argv(toy_table, argv) == []
    assert deprecation_warnings(toy_table, argv) == ["--old-flag is deprecated: Deprecated: use --new-flag."]


def test_recorded_types_and_choices(toy_table):
    by_dest = {o["dest"]: o for o in toy_table["options"]}
    assert by_dest["tp_size"]["flags"] == ["--tp-size", "--tensor-parallel-size"]
    assert (by_dest["tp_size"]["type"], by_dest["tp_size"]["default"]) == ("int", 1)
    assert by_dest["mem_fraction_static"]["type"] == "float"
    assert by_dest["page_size"]["choices"] == [1, 16, 64]
    assert by_dest["enable_mixed_chunk"]["flags"] == ["--enable-mixed-chunk", "--no-enable-mixed-chunk"]
    assert by_dest["json_config"]["type"] == "json"
    assert toy_table["mutually_exclusive"] == [{"flags": ["--fast", "--slow"], "required": False}]


def test_types_are_recorded_by_behaviour():
    parser = argparse.ArgumentParser()
    parser.add_argument("--odd", type=lambda s: s[::-1])
    parser.add_argument("--backend", type=lambda s: s.lower().replace("-", "_"), choices=["fa3", "flash_infer"])
    odd, backend = parser_table.describe_parser(parser, "toy", "0")["options"][-2:]
    assert odd["type"] == "unchecked"
    assert backend["type"] == "snake_lower"  # recognised by behaviour, not by name
    assert check_argv({"options": [backend]}, ["--backend", "Flash-Infer"]) == []


# -- vLLM's FlexibleArgumentParser rewriting ---------------------------------------------------

FLEXIBLE = {"parser": {"allow_abbrev": True, "flexible": True}, "positionals": [], "options": [
    {"dest": "tensor_parallel_size", "flags": ["--tensor-parallel-size", "-tp"], "nargs": None, "type": "int"},
    {"dest": "compilation_config", "flags": ["--compilation-config", "-cc"], "nargs": None, "type": "json"},
    {"dest": "optimization_level", "flags": ["--optimization-level"], "nargs": None, "type": "int"},
]}


def test_flexible_parser_accepts_underscores_dotted_keys_and_short_optimization_level():
    assert check_argv(FLEXIBLE, ["--tensor_parallel_size", "2"]) == []
    assert check_argv(FLEXIBLE, ["--compilation-config.cudagraph_capture_sizes", "[1,2]"]) == []
    assert check_argv(FLEXIBLE, ["-O3"]) == []
    assert check_argv(FLEXIBLE, ["-tp", "x"]) == ["argument --tensor-parallel-size/-tp: invalid int value: 'x'"]


def test_check_argv_api_matches_doc():
    assert option_table.check_argv(FLEXIBLE, ["--nope"]) == ["unrecognized arguments: --nope"]

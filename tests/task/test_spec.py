"""Task spec validation: every problem reported with its field path, the bad value and what is allowed."""

from pathlib import Path

import pytest
import yaml

from autotuner.task.load import load_spec, parse_spec, parse_spec_text, require_valid, SpecError

ROOT = Path(__file__).resolve().parents[2]


def base() -> dict:
    return yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())


def problems_of(data: dict) -> dict[str, str]:
    spec, problems = parse_spec(data)
    return {p.path: str(p) for p in problems}


@pytest.mark.parametrize("name", ["quickstart.yaml", "local-sglang-h100.yaml"])
def test_examples_are_valid(name):
    spec, problems = load_spec(ROOT / "examples" / name)
    assert problems == [] and spec is not None


def test_unknown_engine_parameter_lists_known_ones():
    data = base()
    data["search"]["space"]["max_batch_size"] = {"choices": [1, 2]}
    msg = problems_of(data)["search.space.max_batch_size"]
    assert "unknown engine parameter" in msg and "max_running_requests" in msg and "mem_fraction_static" in msg


@pytest.mark.parametrize("bad, path, fragment", [
    ({"low": 0.5, "high": 1.2}, "search.space.mem_fraction_static.high", "(0.0, 1.0)"),
    ({"low": 0.0, "high": 0.9}, "search.space.mem_fraction_static.low", "(0.0, 1.0)"),
    ({"low": 0.9, "high": 0.5}, "search.space.mem_fraction_static.high", "empty range"),
    ({"choices": []}, "search.space.mem_fraction_static.choices", "at least one"),
    ({"choices": [0.5, 1.5]}, "search.space.mem_fraction_static.choices.1", "(0.0, 1.0)"),
    ({"low": 0.5}, "search.space.mem_fraction_static", "needs choices, or both low and high"),
    ({"choices": [0.8], "low": 0.5, "high": 0.9}, "search.space.mem_fraction_static", "not both"),
])
def test_bad_ranges(bad, path, fragment):
    data = base()
    data["search"]["space"]["mem_fraction_static"] = bad
    msgs = problems_of(data)
    assert path in msgs and fragment in msgs[path], msgs


def test_bad_value_types_and_choices():
    data = base()
    data["search"]["space"]["schedule_policy"] = {"choices": ["fcfs", "shortest"]}
    data["search"]["space"]["max_running_requests"] = {"low": 0, "high": 10}
    data["engine"]["fixed"] = {"kv_cache_dtype": "fp16"}
    msgs = problems_of(data)
    assert "lpm, random, fcfs, dfs-weight" in msgs["search.space.schedule_policy.choices.1"]
    assert "max_running_requests.low" in " ".join(msgs)
    assert "auto, fp8_e5m2, fp8_e4m3" in msgs["engine.fixed.kv_cache_dtype"]


def test_negative_and_repeated_concurrency():
    data = base()
    data["workload"]["concurrency"] = [8, -2, 8]
    msgs = problems_of(data)
    assert "positive" in msgs["workload.concurrency.1"]
    assert "distinct" in msgs["workload.concurrency"]


def test_load_search_bounds():
    data = base()
    data["workload"]["load"] = {"min": 64, "max": 8}
    assert "at least workload.load.min (64)" in problems_of(data)["workload.load.max"]
    data["workload"]["load"] = {"min": 4, "max": 64, "start": 100}
    assert "within workload.load.min-max (4-64)" in problems_of(data)["workload.load.start"]
    data["workload"]["load"] = {"resolution": 0, "growth": 1}
    msgs = problems_of(data)
    assert "greater than 0" in msgs["workload.load.resolution"] and "greater than 1" in msgs["workload.load.growth"]


def test_early_stopping_names_the_rules_there_are():
    data = base()
    data["search"]["early_stopping"] = "asha"
    assert problems_of(data)["search.early_stopping"].endswith("must be one of bound or none")
    data["search"]["early_stopping"] = "bound"
    data["search"]["stop_margin"] = 0.5  # a trial's first level alone needs twice the margin: below 1
    assert "less than 0.5" in problems_of(data)["search.stop_margin"]


def test_tp_dp_above_node_gpus():
    data = base()
    data["search"]["space"]["tp_size"] = {"choices": [16]}
    msgs = problems_of(data)
    assert "exceeds engine.gpus_per_node (8)" in msgs["search.space.tp_size"]
    assert "budget.gpus" in msgs


def test_tp_must_divide_heads_for_some_choice():
    data = base()
    data["model"]["num_attention_heads"] = 30
    data["search"]["space"]["tp_size"] = {"choices": [4, 8]}
    data["budget"]["gpus"] = 8
    assert "does not divide" in " ".join(problems_of(data).values()) or "no value divides" in " ".join(problems_of(data).values())


def test_model_that_does_not_fit():
    data = base()
    data["model"]["params_billion"] = 405
    msgs = problems_of(data)
    assert "do not fit" in msgs["search.space.tp_size"]


def test_structural_errors_name_the_field_and_allowed_values():
    data = base()
    data["engine"]["backend"] = "lokal"
    data["model"]["colour"] = "red"
    data["budget"]["trials"] = 0
    msgs = problems_of(data)
    assert "local or ome" in msgs["engine.backend"]
    assert "unknown field" in msgs["model.colour"] and "tokenizer" in msgs["model.colour"]
    assert "budget.trials" in msgs


def test_missing_required_field():
    data = base()
    del data["model"]["name"]
    assert "missing" in problems_of(data)["model.name"]


def test_conditional_parameter_must_follow_its_condition():
    data = base()
    space = data["search"]["space"]
    space["cuda_graph_max_bs"]["when"] = {"kv_cache_dtype": "auto"}
    msgs = problems_of(data)
    assert "search.space.cuda_graph_max_bs.when.kv_cache_dtype" in msgs


def test_initial_config_must_be_in_space():
    data = base()
    data["search"]["initial_configs"] = [{"tp_size": 3, "nope": 1}]
    msgs = problems_of(data)
    assert "search.initial_configs.0.nope" in msgs


def test_real_engine_needs_tokenizer_and_path():
    data = base()
    data["engine"]["local"]["command"] = "engine"
    msgs = problems_of(data)
    assert "model.path" in msgs and "model.tokenizer" in msgs


def test_bad_scenario_name_and_yaml():
    data = base()
    data["workload"]["scenarios"] = ["X(1,2)"]
    data["name"] = "Has Spaces"
    msgs = problems_of(data)
    assert "D(in,out)" in msgs["workload.scenarios.0"] and "name" in msgs
    spec, problems = parse_spec_text("name: [unclosed")
    assert spec is None and "not valid YAML" in str(problems[0])


def test_require_valid_raises_with_every_problem():
    data = base()
    data["workload"]["concurrency"] = [0]
    data["name"] = "X"
    with pytest.raises(SpecError) as err:
        require_valid(data)
    assert len(err.value.problems) >= 2


def test_cli_validate_exit_codes(tmp_path, capsys):
    from autotuner.cli import main

    assert main(["validate", str(ROOT / "examples/quickstart.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {name: m}\nsearch: {space: {mem_fraction_static: {low: 0.2, high: 1.5}}}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "search.space.mem_fraction_static.high: 1.5" in err


def test_cli_run_rejects_invalid_spec_before_ray(tmp_path):
    """Bad input is refused before Ray is even imported (so no cluster starts, no GPU is claimed)."""
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {name: m}\nworkload: {concurrency: [-4]}\n")
    probe = ("import sys; from autotuner.cli import main; rc = main(['run', sys.argv[1]]); "
             "print('ray imported:', 'ray' in sys.modules); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", probe, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "workload.concurrency.0" in done.stderr
    assert "ray imported: False" in done.stdout

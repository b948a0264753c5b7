"""Hostile or careless task files get a clear problem list from `autotuner validate`, never a
traceback, a hang or a machine out of memory: inf/nan, huge ranges, alias bombs, deep nesting,
huge files, scenarios genai-bench would refuse, and key order."""

import math
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotuner.task.space import SearchSpace
from autotuner.task.load import parse_spec, parse_spec_text
from tests.task.test_safe_yaml import alias_bomb

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = (ROOT / "examples/quickstart.yaml").read_text()
MEMORY_LIMIT = 2 << 30  # a regression must fail here, not take the machine's memory


def base() -> dict:
    return yaml.safe_load(QUICKSTART)


def problems_of(data: dict) -> dict[str, str]:
    """Every problem's text by its field path (several at one path joined)."""
    _, problems = parse_spec(data)
    msgs: dict[str, str] = {}
    for p in problems:
        msgs[p.path] = f"{msgs[p.path]}; {p}" if p.path in msgs else str(p)
    return msgs


def validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    """`autotuner validate` on ``text`` as a user runs it, with its memory and time bounded."""
    task = tmp_path / "task.yaml"
    task.write_text(text)

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run([str(Path(sys.executable).parent / "autotuner"), "validate", str(task)],
                          capture_output=True, text=True, timeout=60, preexec_fn=bounded, cwd=tmp_path)


@pytest.mark.parametrize("text, expected", [
    (QUICKSTART.replace("tp_size: {choices: [1, 2]}", "tp_size: {low: 1, high: 1.0e12}"),
     "search.space.tp_size.high: 1000000000000 -- must be in [1, 64]"),
    (QUICKSTART + "extra:\n  " + alias_bomb().replace("\n", "\n  "), "once aliases are expanded"),
    (QUICKSTART + "extra: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested deeper than 32 levels"),
    (QUICKSTART + "# padding\n" * 200_000, "larger than 1000000 bytes"),
], ids=["huge-range", "alias-bomb", "deep-nesting", "huge-file"])
def test_validate_reports_exhausting_input_without_a_traceback(tmp_path, text, expected):
    done = validate(tmp_path, text)
    assert done.returncode == 2, done.stderr[-2000:]
    assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


def base_with(where: tuple, value) -> dict:
    """The base task with ``value`` set at the field path ``where`` (keys and list indexes)."""
    data = base()
    node = data
    for key in where[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[where[-1]] = value
    return data


@pytest.mark.parametrize("where, value", [
    (("budget", "wall_time_s"), math.inf),
    (("objective", "slo", "ttft_p90_s"), math.nan),
    (("engine", "fixed", "schedule_conservativeness"), math.nan),
    (("search", "space", "mem_fraction_static", "high"), math.inf),
    (("search", "space", "chunked_prefill_size", "choices", 1), math.inf),
    (("search", "initial_configs", 0, "mem_fraction_static"), -math.inf),
])
def test_inf_and_nan_are_refused_wherever_they_are(where, value):
    msgs = problems_of(base_with(where, value))
    path = ".".join(map(str, where))
    assert path in msgs and "finite" in msgs[path], msgs


def test_yaml_inf_and_nan_literals_are_refused():
    _, problems = parse_spec_text(QUICKSTART.replace("max_error_rate: 0.01", "max_error_rate: .nan")
                                  .replace("wall_time_s: 900", "wall_time_s: .inf"))
    assert {p.path for p in problems} == {"objective.slo.max_error_rate", "budget.wall_time_s"}


@pytest.mark.parametrize("scenario", ["D(100, 100)", " D(100,100)", "D(100,100)\n", "E(100)", "dataset",
                                      "D(\u0661\u0660\u0660,100)", "D(0,100)", "U(10,5)/(1,2)", "D(2000000,10)"])
def test_scenarios_genai_bench_would_refuse_or_cannot_run(scenario):
    data = base()
    data["workload"]["scenarios"] = [scenario]
    assert "workload.scenarios.0" in problems_of(data)


@pytest.mark.parametrize("scenario", ["D(100,100)", "N(480,240)/(300,150)", "N(100,0)/(50,0)",
                                      "U(50,100)/(20,40)", "U(100,50)"])
def test_scenarios_genai_bench_runs(scenario):
    data = base()
    data["workload"]["scenarios"] = [scenario]
    assert "workload.scenarios.0" not in problems_of(data)


def test_key_order_does_not_matter_for_conditions():
    """A dump with sorted keys puts cuda_graph_max_bs before the disable_cuda_graph it depends on."""
    spec, problems = parse_spec_text(yaml.safe_dump(base(), sort_keys=True))
    assert problems == [] and spec is not None
    names = [name for name, _ in SearchSpace.from_spec(spec).params]
    assert names.index("disable_cuda_graph") < names.index("cuda_graph_max_bs")


def test_conditions_in_a_cycle_or_on_unknown_names_are_refused():
    data = base()
    space = data["search"]["space"]
    space["disable_cuda_graph"]["when"] = {"cuda_graph_max_bs": 8}
    space["chunked_prefill_size"]["when"] = {"max_prefill_tokens": 4096}
    msgs = problems_of(data)
    assert "cycle" in msgs["search.space.disable_cuda_graph.when"]
    assert "cycle" in msgs["search.space.cuda_graph_max_bs.when"]
    assert "search.space or engine.fixed" in msgs["search.space.chunked_prefill_size.when.max_prefill_tokens"]


def test_bounds_that_would_break_a_run():
    data = base()
    data["seed"] = 10**40
    data["workload"]["requests_per_level"] = 10**12
    assert {"seed", "workload.requests_per_level"} <= set(problems_of(data))
    data = base()
    data["workload"]["concurrency"] = [1, 10**9]
    data["search"]["space"]["max_running_requests"] = {"low": 4, "high": 256, "step": 0.5}
    msgs = problems_of(data)
    assert "at most" in msgs["workload.concurrency.1"]
    assert "whole-number step" in msgs["search.space.max_running_requests.step"]


def test_a_key_given_twice_is_refused_by_validate(tmp_path):
    text = QUICKSTART.replace("  trials: 16\n", "  trials: 16\n  gpus: 4\n  trials: 100000\n", 1)
    text = text.replace("  gpus: 4          # logical GPU slots; trials with tp_size 2 take two\n", "", 1)
    done = validate(tmp_path, text)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "budget.trials: null -- budget.trials is given twice" in done.stderr, done.stderr


@pytest.mark.parametrize("where, value", [
    (("search", "space", "max_running_requests"), {"low": 4, "high": 2**70}),
    (("search", "space", "max_running_requests"), {"choices": [64, 2**40]}),
    (("engine", "fixed", "max_prefill_tokens"), 2**31),
    (("search", "initial_configs", 0, "max_running_requests"), 10**20),
], ids=["range", "choice", "fixed", "initial-config"])
def test_integer_parameters_are_bounded(where, value):
    msgs = problems_of(base_with(where, value))
    assert any("must be in [1, 2147483647]" in m for m in msgs.values()), msgs


def test_a_model_the_simulator_does_not_know_is_refused_with_the_known_ones():
    data = base()
    data["model"]["name"] = "mistralai/Mistral-7B-Instruct-v0.3"
    msgs = problems_of(data)
    assert "the simulator models only" in msgs["model.name"]
    assert "meta-llama/Llama-3.1-8B-Instruct" in msgs["model.name"] and "Qwen/Qwen2.5-7B-Instruct" in msgs["model.name"]
    data["engine"]["local"]["command"] = "engine"  # a real engine serves any model
    data["model"].update(path="/models/mistral", tokenizer="/models/mistral")
    assert "model.name" not in problems_of(data)


@pytest.mark.parametrize("command, path", [(["a"], "engine.local.command.0"),
                                           (["./no-such-server.sh"], "engine.local.command.0"),
                                           ([], "engine.local.command")])
def test_a_server_command_that_cannot_start_is_reported_against_the_command(command, path):
    data = base()
    data["engine"]["local"]["command"] = command
    data["model"]["tokenizer"] = "/models/tok"
    msgs = problems_of(data)
    assert set(msgs) == {path}, msgs
    data["engine"]["local"]["command"] = [sys.executable, "-m", "my_server"]
    assert problems_of(data) == {}


def test_validate_reports_a_misspelt_key_and_every_other_problem(tmp_path):
    text = QUICKSTART.replace("name: quickstart", "name: Quick_Start", 1) + "trails: 16\n"
    done = validate(tmp_path, text)
    assert done.returncode == 2
    assert "trails: 16 -- unknown field" in done.stderr and 'name: "Quick_Start" -- must be' in done.stderr, done.stderr


def test_rules_still_run_beside_field_errors_but_never_judge_a_default_that_stands_in():
    data = base()
    data["budget"]["gpus"] = 0  # a field error
    data["search"]["space"]["max_running_requests"]["high"] = 2**40  # a rule's problem
    data["engine"]["gpus_per_node"] = 100  # over its limit: the default 8 must not be judged
    data["search"]["space"]["tp_size"] = {"choices": [16]}
    msgs = problems_of(data)
    assert set(msgs) == {"budget.gpus", "engine.gpus_per_node", "search.space.max_running_requests.high"}, msgs
    data["model"] = {"name": 5}  # a required field that is bad: the rules cannot run, the field errors stand
    assert set(problems_of(data)) == {"budget.gpus", "engine.gpus_per_node", "model.name"}

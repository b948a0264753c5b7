"""The task form: a task file loaded into it comes back out as the same spec, and the problems it
shows next to its fields are exactly the ones `autotuner validate` prints."""

from pathlib import Path

import pytest
import yaml

from autotuner.cli import main
from autotuner.task.load import parse_spec, parse_spec_text
from serve_app.form import TaskForm
from serve_app.space_editor import CHOICES, FIXED, OFF, RANGE

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

# Problems found by the spec's field types (pydantic) ...
BAD_TYPES = """
name: bad-types
model: {name: meta-llama/Llama-3.1-8B-Instruct}
search: {space: {tp_size: {choices: [1]}}}
objective: {slo: {ttft_p90_s: -1, max_error_rate: 1.5}}
budget: {trials: 0, gpus: 4}
workload: {requests_per_level: 0, minutes_per_level: 90}
"""
# ... and by the rules across fields.
BAD_RULES = """
name: Bad_Name
model: {name: meta-llama/Llama-3.1-8B-Instruct}
engine: {gpu: H100, gpus_per_node: 8, local: {command: simulator}}
search:
  space:
    tp_size: {choices: [1, 3, 16]}
    mem_fraction_static: {low: 0.5, high: 1.2}
    max_running_requests: {low: 64, high: 8}
    schedule_policy: {choices: [fcfs, nope]}
  initial_configs: [{tp_size: 1, kv_cache_dtype: auto}]
workload: {scenarios: ["D(128,32)", "X(1)"], concurrency: [8, 1, 1]}
objective: {kind: latency, slo: {ttft_p90_s: 0.5}}
budget: {trials: 4, gpus: 4}
"""


def without_output(spec):
    return spec.model_copy(update={"output": None})


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_a_task_file_loaded_into_the_form_comes_back_as_the_same_spec(example):
    expected, problems = parse_spec_text(example.read_text())
    assert expected is not None and problems == []
    form = TaskForm()
    form.load(yaml.safe_load(example.read_text()))
    spec, problems = form.validate()
    assert problems == [] and without_output(spec) == without_output(expected)
    # the YAML the form downloads is that task too
    again, problems = parse_spec_text(form.to_yaml())
    assert problems == [] and again == spec


def test_upload_fills_the_inputs():
    form = TaskForm()
    form.load(yaml.safe_load((EXAMPLES[0].parent / "quickstart.yaml").read_text()))
    assert form.fields["name"].widget.value == "quickstart"
    assert form.fields["workload.concurrency"].widget.value == ""  # the quickstart searches the load
    assert (form.fields["workload.load.min"].widget.value, form.fields["workload.load.max"].widget.value) == (1, 512)
    assert form.fields["workload.scenarios"].widget.value == "D(128,32)"
    assert form.fields["objective.slo.ttft_p90_s"].widget.value == 0.25
    rows = form.space.rows
    assert (rows["tp_size"].mode.value, rows["tp_size"].choices.value) == (CHOICES, "1, 2")
    assert (rows["mem_fraction_static"].mode.value, rows["mem_fraction_static"].low.value) == (RANGE, 0.55)
    assert rows["cuda_graph_max_bs"].when.value == "{disable_cuda_graph: false}"
    assert rows["dp_size"].mode.value == OFF
    # the task's parameter order is kept: a `when` may only name an earlier parameter
    assert form.space.order.index("disable_cuda_graph") < form.space.order.index("cuda_graph_max_bs")


def test_fixed_parameters_round_trip():
    data = yaml.safe_load(BAD_RULES)
    data.update(name="fixed", workload={"concurrency": [1, 8]}, objective={})
    data["search"] = {"space": {"tp_size": {"choices": [1, 2]}}}
    data["engine"]["fixed"] = {"kv_cache_dtype": "fp8_e5m2", "disable_radix_cache": True}
    form = TaskForm()
    form.load(data)
    assert form.space.rows["kv_cache_dtype"].mode.value == FIXED
    spec, problems = form.validate()
    assert problems == [] and spec == parse_spec(data)[0]


@pytest.mark.parametrize("text", [BAD_TYPES, BAD_RULES], ids=["types", "rules"])
def test_the_form_shows_the_problems_autotuner_validate_prints(text, tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text(text)
    assert main(["validate", str(task)]) == 2
    printed = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert len(printed) >= 4

    form = TaskForm()
    form.load(yaml.safe_load(text))
    spec, problems = form.validate()
    assert spec is None
    assert sorted(str(p) for p in problems) == sorted(printed)
    # each problem is shown next to the input its path names
    panes = [*form.fields.values(), *form.space.rows.values()]
    shown = "\n".join([p.errors.object for p in panes] + [form.space.errors.object, form.top_errors.object])
    for line in printed:
        assert line in shown
    if text is BAD_TYPES:
        assert "budget.trials: 0" in form.fields["budget.trials"].errors.object
    else:
        assert "search.space.mem_fraction_static.high" in form.space.rows["mem_fraction_static"].errors.object
        assert "workload.scenarios.1" in form.fields["workload.scenarios"].errors.object


def test_text_that_is_not_yaml_is_reported_at_its_field():
    form = TaskForm()
    form.fields["engine.local.env"].widget.value = "{unclosed: "
    spec, problems = form.validate()
    assert spec is None and [p.path for p in problems] == ["engine.local.env"]
    assert "not valid YAML" in form.fields["engine.local.env"].errors.object


def test_a_problem_reveals_its_input():
    from autotuner.task.spec import Problem
    from serve_app.form_fields import css_class

    form = TaskForm()
    assert form.reveal(Problem("budget.trials", 0, "too few")) == ".field-budget-trials"
    ome = next(p for p in form.fields if p.startswith("engine.ome."))
    assert form.cards["engine.ome"].collapsed
    assert form.reveal(Problem(ome, "x", "bad")) == "." + css_class(ome)
    assert not form.cards["engine.ome"].collapsed  # the card holding it was opened
    assert form.reveal(Problem("search.space.mem_fraction_static.low", 1.2, "too high")) == \
        ".param-mem-fraction-static.param-low"
    assert form.reveal(Problem("nonsense", 1, "unknown field")) == ".form-top-errors"


def test_the_only_when_placeholder_is_not_a_condition():
    from serve_app.space_editor import SpaceEditor

    row = SpaceEditor().rows["cuda_graph_max_bs"]
    assert ":" not in row.when.placeholder and "{" not in row.when.placeholder


def test_choosing_another_engine_shows_its_parameters_and_keeps_shared_ones():
    form = TaskForm()
    form.space.rows["kv_cache_dtype"].load({"choices": ["auto", "fp8_e5m2"]}, None)
    form.fields["engine.flavor"].set("vllm")
    assert "tensor_parallel_size" in form.space.rows and "tp_size" not in form.space.rows
    assert form.space.space()["kv_cache_dtype"] == {"choices": ["auto", "fp8_e5m2"]}
    assert "vLLM 0.33.0" in form.space.intro.object

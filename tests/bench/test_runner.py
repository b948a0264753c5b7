"""The benchmark runner axis: ``workload.runner``, its registry, and each runner's own rules."""

import typing

import pytest

from autotuner.bench.benchmarkjob_runner import BenchmarkJobRunner
from autotuner.bench.genai_bench_runner import GenaiBenchRunner
from autotuner.plugins import RUNNER_RULES, RUNNERS, UnknownName
from autotuner.task.load import parse_spec
from autotuner.task.spec import WorkloadSpec

OME = {"backend": "ome", "ome": {"base_model": "llama", "benchmark_pvc": "results", "results_mount": "/results"}}


def task(engine=None, **workload):
    return {"name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "tokenizer": "/tok",
                                   "served_name": "vllm-model"},
            "engine": engine or {}, "workload": workload, "search": {"space": {"tp_size": {"choices": [1, 2]}}}}


def problems(data):
    spec, found = parse_spec(data)
    return {p.path: p.message for p in found}


def test_the_registry_holds_every_runner_the_spec_allows():
    assert set(RUNNERS) == set(typing.get_args(WorkloadSpec.model_fields["runner"].annotation))
    assert set(RUNNER_RULES) == set(RUNNERS)
    assert RUNNERS.get("genai-bench") is GenaiBenchRunner and RUNNERS.get("benchmarkjob") is BenchmarkJobRunner
    with pytest.raises(UnknownName, match="allowed: genai-bench, benchmarkjob"):
        RUNNERS.get("jmeter")


def test_an_unknown_runner_names_the_field_and_the_allowed_values():
    assert problems(task(runner="jmeter"))["workload.runner"] == "must be one of genai-bench or benchmarkjob"


def test_benchmarkjob_needs_the_ome_backend_and_its_results_volume():
    msgs = problems(task(runner="benchmarkjob"))
    assert "needs engine.backend 'ome'" in msgs["workload.runner"] and "genai-bench" in msgs["workload.runner"]
    assert problems(task(OME, runner="benchmarkjob")) == {}
    msgs = problems(task({"backend": "ome", "ome": {"base_model": "llama"}}, runner="benchmarkjob"))
    assert msgs["engine.ome.benchmark_pvc"] == msgs["engine.ome.results_mount"] == \
        "workload.runner 'benchmarkjob' needs it"


def test_tasks_written_before_the_runner_field_still_load():
    """A campaign folder's spec.yaml from before names the runner engine.ome.benchmark."""
    legacy = task({**OME, "ome": {**OME["ome"], "benchmark": "benchmarkjob"}})
    spec, found = parse_spec(legacy)
    assert found == [] and spec.workload.runner == "benchmarkjob" and "benchmark" not in spec.engine.ome.model_dump()
    spec, found = parse_spec(task({**OME, "ome": {**OME["ome"], "benchmark": "ray-worker"}}))
    assert found == [] and spec.workload.runner == "genai-bench"
    msgs = problems(task({**OME, "ome": {**OME["ome"], "benchmark": "ray-worker"}}, runner="benchmarkjob"))
    assert "give only workload.runner" in msgs["(top)"]

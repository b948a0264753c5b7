"""What each benchmark runner needs of a task, checked with the task before anything runs
(:data:`autotuner.plugins.RUNNER_RULES`). Light on purpose: validating a task imports this, never a
runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from autotuner.task.problem import Problem

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

# OME's BenchmarkJob always sends this model name.
BENCHMARKJOB_MODEL_NAME = "vllm-model"


def genai_bench_problems(spec: TaskSpec) -> list[Problem]:
    """None: genai-bench works with every backend."""
    return []


def benchmarkjob_problems(spec: TaskSpec) -> list[Problem]:
    """The ome backend with a results PVC, the model name OME sends, no API key."""
    out = []
    ome = spec.engine.ome
    if spec.engine.backend != "ome":
        out.append(Problem("workload.runner", "benchmarkjob", "needs engine.backend 'ome' (an OME BenchmarkJob runs "
                                                              "in the cluster); allowed with this backend: genai-bench"))
    for field in ("benchmark_pvc", "results_mount"):
        if ome is not None and not getattr(ome, field):
            out.append(Problem(f"engine.ome.{field}", None, "workload.runner 'benchmarkjob' needs it"))
    if spec.model.served_model_name != BENCHMARKJOB_MODEL_NAME:
        out.append(Problem("model.served_name", spec.model.served_model_name,
                           f"workload.runner 'benchmarkjob' needs {BENCHMARKJOB_MODEL_NAME!r}: OME's BenchmarkJob "
                           "always sends that model name"))
    if spec.engine.api_key is not None:
        out.append(Problem("engine.api_key", spec.engine.api_key.model_dump(exclude_none=True),
                           "workload.runner 'benchmarkjob' cannot send it: OME's BenchmarkJob always sends its "
                           "own key; use workload.runner 'genai-bench'"))
    # The BenchmarkJob spec has no field for a shared prefix, and its controller ignores
    # spec.dataset (OME at the recorded commit): genai-bench in the Job would run other traffic.
    wl = spec.workload
    for name, part in (("prefix", wl.prefix), ("dataset", wl.dataset)):
        if part is not None:
            out.append(Problem(f"workload.{name}", part.model_dump(exclude_none=True),
                               "workload.runner 'benchmarkjob' cannot pass it on: OME's BenchmarkJob has no "
                               "such genai-bench option; use workload.runner 'genai-bench'"))
    return out


__all__ = ["BENCHMARKJOB_MODEL_NAME", "benchmarkjob_problems", "genai_bench_problems"]

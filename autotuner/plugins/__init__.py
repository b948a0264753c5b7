"""The pluggable axes' registries that the task itself needs, and the registry helper.

The task names a backend (``engine.backend``) and a benchmark runner (``workload.runner``); validating
it asks the chosen one's own spec rules, without importing the backend or the runner (nor Ray, nor
Kubernetes): each entry points at its implementation and at a light module of its rules by name.
Adding a backend or a runner is a module of its own plus one line here (docs/extending.md)::

    BACKENDS.get("local")              # the LocalProcessEngine class, imported now
    BACKEND_RULES.get("ome")(spec)     # the ome backend's problems with a task
"""

from __future__ import annotations

from autotuner.plugins.registry import Registry, UnknownName

BACKENDS = Registry("engine.backend", {
    "local": "autotuner.engines.local:LocalProcessEngine",
    "ome": "autotuner.engines.ome:InferenceServiceEngine",
})
RUNNERS = Registry("workload.runner", {
    "genai-bench": "autotuner.bench.genai_bench_runner:GenaiBenchRunner",
    "benchmarkjob": "autotuner.bench.benchmarkjob_runner:BenchmarkJobRunner",
})
# Each backend's and runner's spec rules: ``(spec) -> list[Problem]``, in modules that import
# nothing heavier than the task.
BACKEND_RULES = Registry("engine.backend", {
    "local": "autotuner.engines.rules:local_problems",
    "ome": "autotuner.engines.rules:ome_problems",
})
RUNNER_RULES = Registry("workload.runner", {
    "genai-bench": "autotuner.bench.rules:genai_bench_problems",
    "benchmarkjob": "autotuner.bench.rules:benchmarkjob_problems",
})

__all__ = ["BACKENDS", "BACKEND_RULES", "RUNNERS", "RUNNER_RULES", "Registry", "UnknownName"]

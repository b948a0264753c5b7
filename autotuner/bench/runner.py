"""Where a trial's load levels are measured, behind one small protocol.

* ``ray-worker`` (default): one genai-bench process on the trial's Ray worker
  (:class:`~autotuner.bench.genai_bench.GenaiBenchLevels`), started while the engine starts up
  (:func:`start_genai_bench`) and running each level the trial asks for;
* ``benchmarkjob`` (``ome`` backend): an OME BenchmarkJob per level inside the cluster
  (:class:`BenchmarkJobLevels`).

::

    with contextlib.closing(level_runner(spec, engine, work_dir, ...)) as runner:
        level = runner.run_level(LevelRequest("D(128,32)", 16, max_requests=48))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from autotuner.bench.genai_bench import PLACEHOLDER_API_KEY, BenchmarkError, GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.result import LevelRequest, LevelResult
from autotuner.engines.base import RunningEngine
from autotuner.spec import TaskSpec

EARLY_START_ENV = "AUTOTUNER_GENAI_BENCH_EARLY_START"


class LevelRunner(Protocol):
    """Measures one level at a time against the trial's engine."""

    def run_level(self, request: LevelRequest) -> LevelResult:
        """The level's result; raises :class:`BenchmarkError` when it cannot be measured."""
        ...

    def close(self) -> None:
        """Stop whatever still runs (idempotent)."""
        ...


def benchmark_job_mode(spec: TaskSpec) -> bool:
    ome = spec.engine.ome
    return spec.engine.backend == "ome" and ome is not None and ome.benchmark == "benchmarkjob"


def genai_bench_settings(spec: TaskSpec, api_key: str | None = None) -> GenaiBenchSettings:
    wl = spec.workload
    return GenaiBenchSettings(tokenizer=str(spec.model.tokenizer), api_backend=wl.api_backend,
                              max_minutes_per_level=wl.minutes_per_level, api_key=api_key or PLACEHOLDER_API_KEY)


def start_genai_bench(spec: TaskSpec, work_dir: Path, api_key: str | None = None) -> GenaiBenchLevels | None:
    """genai-bench started now, before the engine, so its imports overlap the engine's start-up;
    None in the benchmarkjob mode. ``api_key``: the key the server requires.
    ``AUTOTUNER_GENAI_BENCH_EARLY_START=0`` defers the start to the first level (for measuring
    what the early start saves)."""
    if benchmark_job_mode(spec):
        return None
    bench = GenaiBenchLevels(genai_bench_settings(spec, api_key), work_dir)
    if os.environ.get(EARLY_START_ENV, "1") != "0":
        bench.start()
    return bench


def level_runner(spec: TaskSpec, engine: RunningEngine, bench: GenaiBenchLevels | None, *, campaign_id: str,
                 trial_id: str, gpus: int) -> LevelRunner:
    """The runner of a trial whose engine is up (``bench``: what :func:`start_genai_bench` gave)."""
    if bench is not None:
        bench.connect(engine.base_url, engine.served_model_name)
        return bench
    return BenchmarkJobLevels(spec, engine, campaign_id=campaign_id, trial_id=trial_id, gpus=gpus)


class BenchmarkJobLevels:
    """Each level as an OME BenchmarkJob against the trial's InferenceService."""

    def __init__(self, spec: TaskSpec, engine: RunningEngine, *, campaign_id: str, trial_id: str, gpus: int):
        from autotuner.bench.ome_benchmarkjob import BenchmarkJobSettings
        from autotuner.engines.ome import from_task_spec
        from autotuner.k8s.api import NamespacedApi, make_api_client

        ome = spec.engine.ome
        assert ome is not None and ome.benchmark_pvc and ome.results_mount  # checked by the spec
        settings = from_task_spec(spec).settings
        self._client = make_api_client(settings.kubeconfig, settings.context)
        self._api = NamespacedApi(self._client, settings.namespace, settings.retry)
        self._settings = BenchmarkJobSettings(pvc_name=ome.benchmark_pvc, results_mount=ome.results_mount,
                                              minutes_per_level=spec.workload.minutes_per_level,
                                              gpu_type=spec.engine.gpu)
        self._isvc = engine.info["inference_service"]
        self._ids = (campaign_id, trial_id)
        self._gpus = gpus
        self._levels = 0

    def run_level(self, request: LevelRequest) -> LevelResult:
        from autotuner.bench.genai_bench import all_failed_reason
        from autotuner.bench.ome_benchmarkjob import run_benchmark_job

        self._levels += 1
        level = run_benchmark_job(self._api, request, self._settings, level_number=self._levels,
                                  campaign_id=self._ids[0], trial_id=self._ids[1], isvc_name=self._isvc,
                                  gpu_count=self._gpus)
        if level.all_failed:
            raise BenchmarkError(all_failed_reason(level))
        return level

    def close(self) -> None:
        self._client.close()


__all__ = ["BenchmarkJobLevels", "EARLY_START_ENV", "LevelRunner", "benchmark_job_mode", "level_runner",
           "start_genai_bench"]

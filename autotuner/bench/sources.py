"""Where a trial's load levels come from, as one iterator whatever the benchmark mode.

* ``ray-worker`` (default): one genai-bench subprocess on the trial's Ray worker; each level is
  yielded as soon as its result file appears, so ASHA can stop the trial between levels. It is
  started before the engine (:func:`early_benchmark`) so that its imports overlap the engine's
  start-up; ``AUTOTUNER_GENAI_BENCH_EARLY_START=0`` starts it only once the engine is ready.
* ``benchmarkjob`` (``ome`` backend): an OME BenchmarkJob runs genai-bench inside the cluster;
  its levels arrive together when the Job ends, so ASHA only sees whole sweeps.

>>> levels = trial_levels(spec, engine, work_dir, campaign_id="c", trial_id="t")   # doctest: +SKIP
>>> for level in levels: ...                                                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from autotuner.bench.genai_bench import PLACEHOLDER_API_KEY, BenchPlan, GenaiBenchRun
from autotuner.bench.result import LevelResult
from autotuner.engines.base import RunningEngine
from autotuner.engines.sglang_args import gpus_needed
from autotuner.spec import TaskSpec


EARLY_START_ENV = "AUTOTUNER_GENAI_BENCH_EARLY_START"


def bench_plan(spec: TaskSpec) -> BenchPlan:
    """The genai-bench sweep a task asks for."""
    wl = spec.workload
    return BenchPlan(scenarios=list(wl.scenarios), concurrencies=list(wl.concurrency),
                     max_requests_per_level=wl.requests_per_level,
                     max_minutes_per_level=wl.minutes_per_level, api_backend=wl.api_backend)


def _benchmark_job_mode(spec: TaskSpec) -> bool:
    ome = spec.engine.ome
    return spec.engine.backend == "ome" and ome is not None and ome.benchmark == "benchmarkjob"


@contextlib.contextmanager
def early_benchmark(spec: TaskSpec, work_dir: Path, api_key: str | None = None) -> Iterator[GenaiBenchRun | None]:
    """genai-bench started now, before the engine, waiting for :func:`trial_levels` to give it the
    server; None in the benchmarkjob mode or when switched off. Leaving the context stops it if its
    sweep never ran (the engine did not come up). ``api_key``: the key the server requires."""
    if _benchmark_job_mode(spec) or os.environ.get(EARLY_START_ENV, "1") == "0":
        yield None
        return
    run = GenaiBenchRun(bench_plan(spec), None, None, tokenizer=str(spec.model.tokenizer), out_dir=work_dir / "bench",
                        api_key=api_key or PLACEHOLDER_API_KEY)
    run.start_early()
    try:
        yield run
    finally:
        run.close()


def trial_levels(spec: TaskSpec, engine: RunningEngine, work_dir: Path, *, campaign_id: str, trial_id: str,
                 engine_args: dict, early: GenaiBenchRun | None = None, api_key: str | None = None
                 ) -> contextlib.AbstractContextManager[Iterator[LevelResult]]:
    """The levels of one trial's sweep, in sweep order; closing it stops the benchmark. ``early``:
    the run :func:`early_benchmark` started, to be pointed at the engine; ``api_key``: the key the
    server requires."""
    if _benchmark_job_mode(spec):
        return contextlib.closing(_benchmark_job_levels(spec, engine, campaign_id, trial_id, gpus_needed(engine_args)))
    run = early or GenaiBenchRun(bench_plan(spec), None, None, tokenizer=str(spec.model.tokenizer),
                                 out_dir=work_dir / "bench", api_key=api_key or PLACEHOLDER_API_KEY)
    run.connect(engine.base_url, engine.served_model_name)
    return contextlib.closing(run.levels())


def _benchmark_job_levels(spec: TaskSpec, engine: RunningEngine, campaign_id: str, trial_id: str,
                          gpus: int) -> Iterator[LevelResult]:
    from autotuner.bench.ome_benchmarkjob import BenchmarkJobSettings, run_benchmark_job
    from autotuner.engines.ome import from_task_spec
    from autotuner.k8s.api import NamespacedApi, make_api_client

    ome = spec.engine.ome
    assert ome is not None and ome.benchmark_pvc and ome.results_mount  # checked by the spec
    settings = from_task_spec(spec).settings
    api_client = make_api_client(settings.kubeconfig, settings.context)
    try:
        api = NamespacedApi(api_client, settings.namespace, settings.retry)
        levels = run_benchmark_job(
            api, bench_plan(spec), BenchmarkJobSettings(pvc_name=ome.benchmark_pvc, results_mount=ome.results_mount,
                                                        gpu_type=spec.engine.gpu),
            campaign_id=campaign_id, trial_id=trial_id, isvc_name=engine.info["inference_service"], gpu_count=gpus)
    finally:
        api_client.close()
    order = {level: i for i, level in enumerate(spec.levels)}
    yield from sorted(levels, key=lambda lv: order.get((lv.scenario, lv.concurrency), len(order)))

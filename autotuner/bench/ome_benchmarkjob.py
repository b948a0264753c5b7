"""Benchmark a trial with an OME BenchmarkJob instead of a genai-bench subprocess on the Ray worker.

One BenchmarkJob per level (``templates/benchmarkjob.yaml.j2``), pointed at the trial's
InferenceService, so the load search can decide each level from the last; the OME controller
waits for it to be Ready, runs genai-bench for that level in a Job and writes
the result files to ``pvc://<pvc>/<sub_path>/<result folder>``. Its status has no metrics, only
``state`` (Pending, Running, Completed, Failed), so the tuner waits for a final state and reads the
files from the same PVC mounted on the Ray worker at ``results_mount``::

    settings = BenchmarkJobSettings(pvc_name="autotune-bench-results", results_mount="/mnt/results")
    level = run_benchmark_job(api, LevelRequest("D(1000,200)", 32, 300), settings, level_number=1,
                              campaign_id="sweep", trial_id="t0001", isvc_name="sweep-t0001")

Caveats (checked against OME's BenchmarkJob controller): in InferenceService mode OME passes the hard-coded
``--api-model-name vllm-model``, so serve the trial under that name (``--served-model-name
vllm-model``) unless the SGLang in use accepts any model name; each level pays for a Job's pod
start, so this mode is slower per level than genai-bench on the Ray worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autotuner.bench.genai_bench import BenchmarkError
from autotuner.bench.parse import find_failed_level_files, find_level_files, parse_failed_level, parse_level_file
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.k8s.api import BENCHMARK_JOBS, KubeError, NamespacedApi
from autotuner.k8s.gc import delete_and_wait
from autotuner.k8s.manifests import ManifestError, render_template
from autotuner.k8s.names import check_object_name, trial_labels

# The only values the BenchmarkJob CRD allows in serviceMetadata.gpuType.
CRD_GPU_TYPES = ("H100", "A100", "MI300", "A10")


@dataclass
class BenchmarkJobSettings:
    """Where results go and how long to wait. Plain fields, so the task spec maps onto them."""

    pvc_name: str  # a PVC in the trial's namespace, also mounted on the Ray workers
    results_mount: str  # where that PVC is mounted on this pod
    minutes_per_level: int = 1  # genai-bench's --max-time-per-run (whole minutes)
    sub_path: str = "autotuner"  # folder inside the PVC (genai-bench's --experiment-base-dir)
    image: str | None = None  # genai-bench image; None: OME's benchmarkjob-config default
    gpu_type: str | None = None  # serviceMetadata.gpuType, only when it is one of CRD_GPU_TYPES
    engine_version: str | None = None  # serviceMetadata.version (the SGLang version)
    watch_timeout_s: int = 10
    delete_timeout_s: float = 600.0
    poll_interval_s: float = 2.0


def render_benchmark_job(*, name: str, namespace: str, campaign_id: str, trial_id: str, isvc_name: str,
                         request: LevelRequest, minutes_per_level: int, output_uri: str, result_folder: str,
                         gpu_count: int, image: str | None = None, gpu_type: str | None = None,
                         engine_version: str | None = None) -> dict[str, Any]:
    """The BenchmarkJob of one level (values rendered as data); raises :class:`ManifestError`.

    >>> job = render_benchmark_job(name="sweep-t1-l1", namespace="autotune", campaign_id="sweep",
    ...     trial_id="t1", isvc_name="sweep-t1", request=LevelRequest("D(100,100)", 8, 50), minutes_per_level=2,
    ...     output_uri="pvc://results/autotuner", result_folder="sweep-t1-l1", gpu_count=1)
    >>> job["spec"]["numConcurrency"], job["spec"]["maxTimePerIteration"]
    ([8], 2)
    """
    problems = [f"{field}: {why}" for field, value in (("metadata.name", name), ("isvc name", isvc_name))
                if (why := check_object_name(value)) is not None]
    if not output_uri.startswith("pvc://"):
        problems.append("outputLocation.storageUri: the tuner reads results from a pvc:// location only")
    if problems:
        raise ManifestError(f"BenchmarkJob {name!r} is not valid", problems)
    metadata = None
    if gpu_type in CRD_GPU_TYPES and engine_version:
        metadata = {"engine": "SGLang", "version": engine_version, "gpuType": gpu_type, "gpuCount": gpu_count}
    return render_template(
        "benchmarkjob.yaml.j2", name=name, namespace=namespace, labels=trial_labels(campaign_id, trial_id),
        isvc_name=isvc_name, scenarios=[request.scenario], concurrency=[request.concurrency],
        minutes_per_level=minutes_per_level, requests_per_level=request.max_requests,
        result_folder=result_folder, output_uri=output_uri, service_metadata=metadata, image=image)


def wait_for_benchmark_job(api: NamespacedApi, name: str, timeout_s: float, watch_timeout_s: int,
                           clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The BenchmarkJob once ``Completed``; raises :class:`BenchmarkError` when it failed, vanished
    or is not done after ``timeout_s``."""
    deadline = clock() + timeout_s
    while True:
        job = api.get(BENCHMARK_JOBS, name)
        if job is None:
            raise BenchmarkError(f"BenchmarkJob {name} was deleted before it finished")
        status = job.get("status") or {}
        state = status.get("state")
        if state == "Completed":
            return job
        if state == "Failed":
            raise BenchmarkError(f"BenchmarkJob {name} failed: {status.get('failureMessage') or 'no message'}")
        remaining = deadline - clock()
        if remaining <= 0:
            raise BenchmarkError(f"BenchmarkJob {name} not finished after {timeout_s:.0f}s (state {state or 'none'})")
        api.wait_for_change(BENCHMARK_JOBS, name, job["metadata"]["resourceVersion"],
                            min(watch_timeout_s, int(remaining) + 1))


def read_level(folder: Path, request: LevelRequest) -> LevelResult:
    """The level genai-bench wrote into ``folder`` for ``request`` (a completely failed one included)."""
    levels = [parse_level_file(p) for p in find_level_files(folder)]
    levels += [parse_failed_level(p) for p in find_failed_level_files(folder)]
    if not levels:
        raise BenchmarkError(f"the BenchmarkJob finished but {folder} holds no result file "
                             "(is the PVC mounted on this pod at results_mount?)")
    for level in levels:
        if level.concurrency == request.concurrency:
            return level
    raise BenchmarkError(f"the BenchmarkJob's results in {folder} hold no level at c={request.concurrency} "
                         f"(found c={', '.join(str(lv.concurrency) for lv in levels)})")


def run_benchmark_job(api: NamespacedApi, request: LevelRequest, settings: BenchmarkJobSettings, *,
                      level_number: int, campaign_id: str, trial_id: str, isvc_name: str,
                      gpu_count: int = 1) -> LevelResult:
    """Create the BenchmarkJob of one level, wait for it, read its result; the job is deleted (and
    waited for) in every case. The job is named after the InferenceService and the level."""
    name = f"{isvc_name}-l{level_number}"
    manifest = render_benchmark_job(
        name=name, namespace=api.namespace, campaign_id=campaign_id, trial_id=trial_id, isvc_name=isvc_name,
        request=request, minutes_per_level=settings.minutes_per_level,
        output_uri=f"pvc://{settings.pvc_name}/{settings.sub_path.strip('/')}", result_folder=name,
        gpu_count=gpu_count, image=settings.image, gpu_type=settings.gpu_type, engine_version=settings.engine_version)
    try:
        api.create(BENCHMARK_JOBS, manifest)
        wait_for_benchmark_job(api, name, settings.minutes_per_level * 60 + 300, settings.watch_timeout_s)
        return read_level(Path(settings.results_mount) / settings.sub_path.strip("/") / name, request)
    except KubeError as err:
        raise BenchmarkError(f"Kubernetes API: {err}") from err
    finally:
        delete_and_wait(api, [(BENCHMARK_JOBS, name)], settings.delete_timeout_s, settings.poll_interval_s)

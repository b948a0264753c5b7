"""The ``benchmarkjob`` benchmark runner (``ome`` backend only): each level as an OME BenchmarkJob
inside the cluster against the trial's InferenceService (:mod:`autotuner.bench.ome_benchmarkjob`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotuner.bench.genai_bench import BenchmarkError, all_failed_reason
from autotuner.bench.result import LevelRequest, LevelResult
from autotuner.engines.base import RunningEngine
from autotuner.task.problem import Problem

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

# OME's BenchmarkJob always sends this model name.
BENCHMARKJOB_MODEL_NAME = "vllm-model"


class BenchmarkJobRunner:
    """:class:`~autotuner.bench.runner.BenchmarkRunner` running OME BenchmarkJobs; the Kubernetes
    client is made once the engine is up."""

    name = "benchmarkjob"

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self._client: Any = None
        self._api: Any = None
        self._settings: Any = None
        self._isvc = ""
        self._ids = ("", "")
        self._gpus = 0
        self._levels = 0

    @classmethod
    def spec_problems(cls, spec: TaskSpec) -> list[Problem]:
        """The ome backend with a results PVC, the model name OME sends, no API key."""
        out = []
        ome = spec.engine.ome
        if spec.engine.backend != "ome":
            out.append(Problem("workload.runner", cls.name, "needs engine.backend 'ome' (an OME BenchmarkJob runs "
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

    @classmethod
    def prepare(cls, spec: TaskSpec, work_dir: Path, api_key: str | None = None) -> BenchmarkJobRunner:
        """Nothing to start before the engine: each level is a job of its own."""
        return cls(spec)

    def connect(self, engine: RunningEngine, *, campaign_id: str, trial_id: str, gpus: int) -> None:
        from autotuner.bench.ome_benchmarkjob import BenchmarkJobSettings
        from autotuner.engines.ome import InferenceServiceEngine
        from autotuner.k8s.api import NamespacedApi, make_api_client

        ome = self.spec.engine.ome
        assert ome is not None and ome.benchmark_pvc and ome.results_mount  # checked by the spec
        settings = InferenceServiceEngine.from_spec(self.spec).settings
        self._client = make_api_client(settings.kubeconfig, settings.context)
        self._api = NamespacedApi(self._client, settings.namespace, settings.retry)
        self._settings = BenchmarkJobSettings(pvc_name=ome.benchmark_pvc, results_mount=ome.results_mount,
                                              minutes_per_level=self.spec.workload.minutes_per_level,
                                              gpu_type=self.spec.engine.gpu)
        self._isvc = engine.info["inference_service"]
        self._ids = (campaign_id, trial_id)
        self._gpus = gpus

    def run_level(self, request: LevelRequest) -> LevelResult:
        from autotuner.bench.ome_benchmarkjob import run_benchmark_job

        if self._api is None:
            raise RuntimeError("connect() to the engine before running levels")
        self._levels += 1
        level = run_benchmark_job(self._api, request, self._settings, level_number=self._levels,
                                  campaign_id=self._ids[0], trial_id=self._ids[1], isvc_name=self._isvc,
                                  gpu_count=self._gpus)
        if level.all_failed:
            raise BenchmarkError(all_failed_reason(level))
        return level

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = self._api = None


__all__ = ["BENCHMARKJOB_MODEL_NAME", "BenchmarkJobRunner"]

"""BenchmarkJob mode against the stand-in: the job waits for the trial's InferenceService, "runs
genai-bench" (copies the result files of a real genai-bench level into the PVC folder) and the
tuner reads the levels from the PVC mount; the job is deleted in every case."""

from __future__ import annotations

import sys

import pytest

from autotuner.bench.genai_bench import BenchmarkError
from autotuner.bench.request import LevelRequest
from autotuner.bench.ome_benchmarkjob import (
    CRD_GPU_TYPES,
    BenchmarkJobSettings,
    render_benchmark_job,
    run_benchmark_job,
)
from autotuner.k8s.api import NamespacedApi, make_api_client
from autotuner.k8s.manifests import ManifestError
from autotuner.k8s.names import trial_resource_name
from autotuner.k8s.schema import recorded_crd
from tests.k8s.conftest import CAMPAIGN, leftovers, trial_request

REQUEST = LevelRequest("D(100,100)", 4, 20)


def copying(results_folder):
    """The "genai-bench" of a BenchmarkJob: copies the result files of a real genai-bench level at
    the job's concurrency (with its experiment_metadata.json) into the job's output folder."""

    def command(job, url, out_dir):
        [concurrency] = job["spec"]["numConcurrency"]
        files = [str(p) for p in results_folder.glob("*.json")
                 if p.name == "experiment_metadata.json" or f"_num_concurrency_{concurrency}_" in p.name]
        script = ("import os, shutil, sys; os.makedirs(sys.argv[1], exist_ok=True); "
                  "[shutil.copy(f, sys.argv[1]) for f in sys.argv[2:]]")
        return [sys.executable, "-c", script, str(out_dir), *files]

    return command


def test_benchmark_job_results_are_read_from_the_pvc(engine, settings, apiserver, controller, tmp_path,
                                                     genai_bench_results):
    controller.bench_command = copying(genai_bench_results.c4)
    bench = BenchmarkJobSettings(pvc_name="results", results_mount=str(controller.pvc_root / "results"),
                                 poll_interval_s=0.05, watch_timeout_s=1)
    api = NamespacedApi(make_api_client(settings.kubeconfig), settings.namespace)
    with engine.deploy(trial_request(tmp_path)):
        level = run_benchmark_job(api, REQUEST, bench, level_number=2, campaign_id=CAMPAIGN, trial_id="t0001",
                                  isvc_name=trial_resource_name(CAMPAIGN, "t0001"))
    assert (level.scenario, level.concurrency, level.num_errors) == ("D(100,100)", 4, 0)
    job_calls = {r.verb for r in apiserver.requests if r.resource == "benchmarkjobs"}
    assert {"create", "get", "delete"} <= job_calls
    assert leftovers(apiserver, controller) == []


def test_a_failed_benchmark_job_raises_and_is_deleted(engine, settings, apiserver, controller, tmp_path):
    controller.bench_command = lambda job, url, out_dir: [sys.executable, "-c", "raise SystemExit(1)"]
    bench = BenchmarkJobSettings(pvc_name="results", results_mount=str(tmp_path), poll_interval_s=0.05,
                                 watch_timeout_s=1)
    api = NamespacedApi(make_api_client(settings.kubeconfig), settings.namespace)
    with engine.deploy(trial_request(tmp_path)):
        with pytest.raises(BenchmarkError, match="failed: Job has reached the specified backoff limit"):
            run_benchmark_job(api, REQUEST, bench, level_number=1, campaign_id=CAMPAIGN, trial_id="t0001",
                              isvc_name=trial_resource_name(CAMPAIGN, "t0001"))
    assert leftovers(apiserver, controller) == []


def test_rendered_benchmark_job_validates_against_the_crd():
    job = render_benchmark_job(name="sweep-t0001", namespace="autotune", campaign_id=CAMPAIGN, trial_id="t0001",
                               isvc_name="sweep-t0001", request=REQUEST, minutes_per_level=1, output_uri="pvc://results/autotuner",
                               result_folder="sweep-t0001", gpu_count=2, image="ghcr.io/sgl-project/genai-bench:0.1.132",
                               gpu_type="H100", engine_version="v0.5.5")
    assert recorded_crd("BenchmarkJob").validate(job) == []
    assert job["spec"]["serviceMetadata"] == {"engine": "SGLang", "version": "v0.5.5", "gpuType": "H100", "gpuCount": 2}


def test_gpu_types_the_crd_rejects_are_left_out():
    job = render_benchmark_job(name="sweep-t0001", namespace="autotune", campaign_id=CAMPAIGN, trial_id="t0001",
                               isvc_name="sweep-t0001", request=REQUEST, minutes_per_level=1, output_uri="pvc://results/autotuner",
                               result_folder="sweep-t0001", gpu_count=1, gpu_type="H200", engine_version="v0.5.5")
    assert "serviceMetadata" not in job["spec"]
    assert recorded_crd("BenchmarkJob").validate(job) == []
    gpu_type = recorded_crd("BenchmarkJob").schema["properties"]["spec"]["properties"]["serviceMetadata"][
        "properties"]["gpuType"]
    assert set(CRD_GPU_TYPES) == set(gpu_type["enum"])


def test_only_pvc_outputs_are_accepted():
    with pytest.raises(ManifestError, match="pvc:// location only"):
        render_benchmark_job(name="sweep-t0001", namespace="autotune", campaign_id=CAMPAIGN, trial_id="t0001",
                             isvc_name="sweep-t0001", request=REQUEST, minutes_per_level=1, output_uri="s3://bucket/x",
                             result_folder="x", gpu_count=1)

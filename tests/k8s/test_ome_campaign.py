"""A whole campaign on the ``ome`` backend against the stand-in API server and OME controller:
real Ray Tune, the real kubernetes client in the trial workers, real genai-bench loading the
simulated engine each InferenceService runs."""

from pathlib import Path

import pytest

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialStatus
from autotuner.task.load import require_valid
from tests.k8s.conftest import NAMESPACE
from tests.k8s.standin import FakeApiServer, FakeOmeController, genai_bench_job_command, simulator_command

pytestmark = pytest.mark.integration


def ome_task(tmp_path: Path, kubeconfig: Path, tokenizer: Path) -> dict:
    return {
        "name": "ome-itest",
        "model": {"name": "meta-llama/Llama-3.2-1B-Instruct", "tokenizer": str(tokenizer)},
        "engine": {"backend": "ome", "gpu": "H100",
                   "ome": {"namespace": NAMESPACE, "base_model": "llama-3-2-1b", "runtime": "srt-llama-3-2-1b",
                           "ready_timeout_s": 60, "endpoint": "status-url", "kubeconfig": str(kubeconfig)}},
        "search": {"space": {"mem_fraction_static": {"low": 0.5, "high": 0.9},
                             "max_running_requests": {"low": 8, "high": 64}},
                   "initial_configs": [{"mem_fraction_static": 0.85, "max_running_requests": 32},
                                       {"mem_fraction_static": 0.6, "max_running_requests": 16}]},
        "workload": {"scenarios": ["D(64,16)"], "concurrency": [1, 4], "requests_per_level": 8},
        "objective": {"slo": {"ttft_p90_s": 2.0, "tpot_p90_s": 0.2}},
        "budget": {"trials": 3, "gpus": 4},
        "remeasure": {"configs": 1, "repeats": 2},
        "output": str(tmp_path / "campaign"),
    }


def test_ome_campaign_end_to_end(ray_cluster, tmp_path, tokenizer_dir):
    from autotuner.campaign.driver import run_campaign

    api = FakeApiServer().start()
    (tmp_path / "engines").mkdir()
    ome = FakeOmeController(api, tmp_path / "engines", command=simulator_command, advertise_local_url=True).start()
    try:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)
        result = run_campaign(require_valid(ome_task(tmp_path, kubeconfig, tokenizer_dir)))
        meta, trials, levels = CampaignFolder(result.folder).load()
        assert meta.status == "finished" and [t.phase for t in trials].count("search") == 3
        assert all(t.status in (TrialStatus.DONE, TrialStatus.STOPPED_EARLY) for t in trials), [(t.status, t.reason) for t in trials]
        # every trial (3 of the search, 1 re-measurement) created its own InferenceService, got
        # Ready, was measured and was deleted
        created = [c for c in api.calls("create", "inferenceservices") if c.code == 201]
        assert len(created) == 4
        assert len(api.calls("delete", "inferenceservices")) >= 4
        assert {r.trial_id for r in levels} == {t.trial_id for t in trials}
        assert all(r.output_tok_s > 0 for r in levels)
        spans = sorted((t.started, t.ended) for t in trials)
        assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "trials should overlap"
        # nothing left behind: no InferenceService, no BenchmarkJob, no engine process
        assert api.objects("inferenceservices", NAMESPACE) == []
        assert api.objects("benchmarkjobs", NAMESPACE) == []
        assert ome.running_processes() == []
        manifest = (result.folder / "trials" / trials[0].trial_id / "inferenceservice.yaml").read_text()
        assert "ome-container" in manifest and "--max-running-requests" in manifest
    finally:
        ome.stop()
        api.stop()


def test_failed_trial_reason_reaches_the_table(ray_cluster, tmp_path, tokenizer_dir):
    """An engine that crashes on start-up: OME's FailedToLoad becomes the trial's reason."""
    from autotuner.campaign.driver import run_campaign

    api = FakeApiServer().start()
    (tmp_path / "engines").mkdir()
    ome = FakeOmeController(api, tmp_path / "engines", command=simulator_command, advertise_local_url=True).start()
    try:
        task = ome_task(tmp_path, api.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE), tokenizer_dir)
        task["search"]["space"]["mem_fraction_static"]["high"] = 0.999  # leaves nothing for activations
        task["search"]["initial_configs"] = [{"mem_fraction_static": 0.999, "max_running_requests": 16}]
        task["budget"]["trials"] = 1
        result = run_campaign(require_valid(task))
        _, trials, _ = CampaignFolder(result.folder).load()
        assert trials[0].status == TrialStatus.FAILED and "start-up failed" in trials[0].reason
        assert "failed to load (BlockedByFailedLoad)" in trials[0].reason, trials[0].reason
        assert api.objects("inferenceservices", NAMESPACE) == [] and ome.running_processes() == []
    finally:
        ome.stop()
        api.stop()


def test_benchmarkjob_mode_campaign(ray_cluster, tmp_path, tokenizer_dir):
    """workload.runner: benchmarkjob -- genai-bench runs as OME's BenchmarkJob; the tuner reads the levels
    from the PVC mount, and neither the jobs nor the InferenceServices are left behind."""
    from autotuner.campaign.driver import run_campaign

    api = FakeApiServer().start()
    (tmp_path / "engines").mkdir()
    ome = FakeOmeController(api, tmp_path / "engines", command=simulator_command, advertise_local_url=True,
                            bench_command=genai_bench_job_command(tokenizer_dir)).start()
    try:
        task = ome_task(tmp_path, api.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE), tokenizer_dir)
        task["model"]["served_name"] = "vllm-model"
        task["engine"]["ome"].update(benchmark_pvc="results", results_mount=str(ome.pvc_root / "results"))
        task["workload"]["runner"] = "benchmarkjob"
        task["budget"]["trials"] = 2
        task["remeasure"] = {"configs": 0}
        result = run_campaign(require_valid(task))
        _, trials, levels = CampaignFolder(result.folder).load()
        assert all(t.status in (TrialStatus.DONE, TrialStatus.STOPPED_EARLY) for t in trials), [(t.status, t.reason) for t in trials]
        assert sorted(r.concurrency for r in levels if r.trial_id == trials[0].trial_id)[:1] == [1]
        # one BenchmarkJob per level: the load search decides each level from the last
        assert len([c for c in api.calls("create", "benchmarkjobs") if c.code == 201]) == len(levels)
        assert api.objects("benchmarkjobs", NAMESPACE) == [] and api.objects("inferenceservices", NAMESPACE) == []
    finally:
        ome.stop()
        api.stop()

"""End to end, as a user runs them from the repository root: the chat example (a 2,000-token
shared system prompt) and the own-prompts example (examples/prompts.csv by a relative path), each
with real Ray Tune, real genai-bench and the simulated SGLang, shrunk to a few short levels."""

import json

import pytest
import yaml

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignStatus
from autotuner.results.report import summary_text
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def shrunk(example: str, tmp_path, initial: list[dict]) -> str:
    """The example with fewer trials and levels; paths in it stay as written (relative)."""
    task = yaml.safe_load((REPO / "examples" / example).read_text())
    task["engine"]["local"]["startup_time_scale"] = 0
    task["search"]["initial_configs"] = initial
    task["workload"].update(concurrency=[4], requests_per_level=8)
    task["workload"].pop("load", None)
    task["budget"] = {"trials": len(initial), "gpus": 2}
    task["remeasure"] = {"configs": 0}
    task["objective"]["slo"] = {"ttft_p90_s": 30.0, "tpot_p90_s": 1.0}  # a slow shared box must still pass
    path = tmp_path / example
    path.write_text(yaml.safe_dump(task))
    return str(path)


@pytest.mark.timeout(600)
def test_the_chat_example_runs_with_its_shared_prefix_and_the_cache_on_and_off(ray_cluster, tmp_path, monkeypatch):
    from autotuner.campaign.driver import run_campaign_file

    monkeypatch.chdir(REPO)
    base = {"schedule_policy": "lpm", "mem_fraction_static": 0.85, "max_running_requests": 64,
            "chunked_prefill_size": 8192}
    task = shrunk("chat-system-prompt.yaml", tmp_path, [{**base, "disable_radix_cache": False},
                                                         {**base, "disable_radix_cache": True}])
    result = run_campaign_file(task, output=str(tmp_path / "chat"))
    meta, trials, levels = CampaignFolder(result.folder).load()
    assert meta.status == CampaignStatus.FINISHED
    by_cache = {t.config["disable_radix_cache"]: t for t in trials}
    assert all(t.feasible for t in by_cache.values()), [(t.status, t.reason) for t in trials]
    # genai-bench sent 2,300-token prompts sharing 2,000 tokens; the cache skips their prefill
    ttft = {off: next(lv for lv in levels if lv.trial_id == t.trial_id).ttft_p90_s
            for off, t in by_cache.items()}
    assert ttft[False] < ttft[True]
    best = json.loads((result.folder / "best_config.json").read_text())
    assert best["provenance"]["traffic"] == "D(2300,150); a 2000-token shared prefix"
    assert best["provenance"]["workload"]["prefix"] == {"len": 2000}
    assert "  traffic: D(2300,150); a 2000-token shared prefix" in summary_text(result.folder)


@pytest.mark.timeout(600)
def test_the_own_prompts_example_reads_the_shipped_file_by_its_relative_path(ray_cluster, tmp_path, monkeypatch):
    from autotuner.campaign.driver import run_campaign_file

    monkeypatch.chdir(REPO)
    task = shrunk("own-prompts.yaml", tmp_path, [{"mem_fraction_static": 0.85, "max_running_requests": 64,
                                                   "chunked_prefill_size": 8192}])
    result = run_campaign_file(task, output=str(tmp_path / "own"))
    meta, trials, _ = CampaignFolder(result.folder).load()
    assert meta.status == CampaignStatus.FINISHED and trials[0].feasible, [(t.status, t.reason) for t in trials]
    spec = yaml.safe_load((result.folder / "spec.yaml").read_text())
    assert spec["workload"]["dataset"]["path"] == str(REPO / "examples/prompts.csv")
    best = json.loads((result.folder / "best_config.json").read_text())
    assert best["provenance"]["traffic"].endswith("prompts from prompts.csv (column prompt)")
    # genai-bench really read it: its experiment metadata names the file
    metadata = list(result.folder.rglob("experiment_metadata.json"))
    assert metadata and all(json.loads(m.read_text())["dataset_path"] == str(REPO / "examples/prompts.csv")
                            for m in metadata)


@pytest.mark.timeout(600)
def test_the_own_prompts_sent_as_written(ray_cluster, tmp_path, monkeypatch):
    """lengths prompts: each request is one line of the file as written, asking max_tokens."""
    from autotuner.campaign.driver import run_campaign_file

    monkeypatch.chdir(REPO)
    path = shrunk("own-prompts.yaml", tmp_path, [{"mem_fraction_static": 0.85, "max_running_requests": 64,
                                                   "chunked_prefill_size": 8192}])
    task = yaml.safe_load(open(path).read())
    task["workload"]["scenarios"] = ["dataset"]
    task["workload"]["dataset"].update(lengths="prompts", max_tokens=32)
    (tmp_path / "as-written.yaml").write_text(yaml.safe_dump(task))
    result = run_campaign_file(str(tmp_path / "as-written.yaml"), output=str(tmp_path / "as-written"))
    meta, trials, levels = CampaignFolder(result.folder).load()
    assert meta.status == CampaignStatus.FINISHED and trials[0].feasible, [(t.status, t.reason) for t in trials]
    assert [level.scenario for level in levels] == ["dataset"]
    (measured,) = result.folder.rglob("dataset_*num_concurrency_*.json")  # genai-bench's own result file
    stats = json.loads(measured.read_text())["aggregated_metrics"]["stats"]
    assert stats["num_output_tokens"]["mean"] == 32
    assert stats["num_input_tokens"]["max"] < 60  # the file's prompts are one or two sentences each

"""A campaign against a server that requires an API key (the simulator with ``--api-key``): the
key named by engine.api_key reaches the engine and genai-bench (without it every request gets 401
and the trial fails), and no file of the campaign, nor Ray's logs, holds it."""

from pathlib import Path

import pytest

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialStatus
from autotuner.task.spec import require_valid
from tests.test_campaign import GOOD, small_task

pytestmark = pytest.mark.integration

KEY = "sk-campaign-9e4b27c1f0"


def files_holding(root: Path, text: str) -> list[str]:
    needle = text.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_keyed_server_is_benchmarked_and_the_key_is_written_nowhere(ray_cluster, tmp_path, monkeypatch):
    from autotuner.campaign.driver import run_campaign

    monkeypatch.setenv("TEST_CAMPAIGN_ENGINE_KEY", KEY)
    task = small_task(tmp_path, trials=1)
    task["engine"]["api_key"] = {"env": "TEST_CAMPAIGN_ENGINE_KEY"}
    task["search"]["initial_configs"] = [GOOD]
    task["workload"]["concurrency"] = [2]
    result = run_campaign(require_valid(task))

    _, trials, levels = CampaignFolder(result.folder).load()
    [trial] = [t for t in trials if t.phase == "search"]
    assert trial.status == TrialStatus.DONE and levels[0].num_errors == 0, trial.reason
    trial_dir = result.folder / "trials" / trial.trial_id
    assert "'--api-key', '***'" in (trial_dir / "engine.log").read_text()
    assert "TEST_CAMPAIGN_ENGINE_KEY" in (result.folder / "spec.yaml").read_text()
    assert '--api-key "$TEST_CAMPAIGN_ENGINE_KEY"' in (result.folder / "best_launch_command.txt").read_text()
    assert files_holding(result.folder, KEY) == []
    session = Path(ray_cluster._private.worker._global_node.get_session_dir_path())
    assert files_holding(session / "logs", KEY) == []

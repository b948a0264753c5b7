"""A campaign against a server that requires an API key (the simulator with ``--api-key``): the
key named by engine.api_key reaches the engine and genai-bench (without it every request gets 401
and the trial fails), and no file of the campaign, nor Ray's logs, holds it."""

from pathlib import Path

import pytest

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialStatus
from autotuner.task.load import require_valid
from tests.campaign.test_campaign import GOOD, small_task

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


@pytest.mark.timeout(900)  # two campaign starts, each with a Ray of its own
def test_a_campaign_killed_mid_level_then_resumed_holds_the_key_nowhere(tmp_path):
    """`autotuner run` killed hard (SIGKILL to its whole process group) while genai-bench measures
    a level, then `autotuner run --resume`: no file of the campaign holds the key, including one a
    killed run of an older version left in clear text (swept with the key on resume)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from tests.conftest import REPO

    task = small_task(tmp_path, trials=1, remeasure={"configs": 0})
    task["engine"]["api_key"] = {"env": "TEST_KILLED_ENGINE_KEY"}
    task["search"]["initial_configs"] = [GOOD]
    task["workload"]["requests_per_level"] = 150  # a level lasts long enough to be killed in
    task["workload"]["load"] = {"min": 2, "max": 4, "start": 2, "resolution": 1.0}  # and few levels
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    folder = Path(task["output"])
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["TEST_KILLED_ENGINE_KEY"] = KEY
    cli = [sys.executable, "-m", "autotuner.cli", "run", str(task_file)]

    first = subprocess.Popen(cli, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list(folder.glob("trials/*/genai-bench*/logs/level-1/genai_bench.log")):
            assert first.poll() is None and time.monotonic() < deadline, "no level started"
            time.sleep(0.5)
        time.sleep(1)  # genai-bench has logged its options and written the level's metadata
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    metadata = next(folder.glob("trials/*/genai-bench*/level-1/experiment_metadata.json"))
    assert files_holding(folder, KEY) == []
    # what 148968d left after such a kill: genai-bench's metadata with the key in clear text
    metadata.write_text(metadata.read_text().replace("***", KEY))

    resumed = subprocess.run([*cli, "--resume"], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert files_holding(folder, KEY) == [] and "***" in metadata.read_text()
    _, _, levels = CampaignFolder(folder).load()
    assert levels and all(level.num_errors == 0 for level in levels)  # the server got the key

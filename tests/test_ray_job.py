"""`ray job submit` against a local `ray start --head` cluster runs a campaign file to the end,
and its progress lines show in `ray job logs`."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from autotuner.results import load_campaign
from tests.conftest import ray_head
from tests.test_campaign import GOOD, small_task

pytestmark = pytest.mark.integration

# Away from Ray's defaults and from the web tests' cluster.
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT = 6391, 8276, 20041, 52408


@pytest.fixture
def cluster():
    with ray_head(GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, prefix="rayjob-") as env:
        yield env, str(Path(sys.executable).parent / "ray")


def submit_when_agent_ready(ray: str, address: str, env: dict, argv: list[str]) -> subprocess.CompletedProcess:
    """`ray job submit`, retried while the new cluster's job agent is not up yet."""
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run([ray, "job", "submit", "--address", address, *argv],
                              env=env, capture_output=True, text=True, timeout=420)
        if "No available agent" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(2)


def test_ray_job_submit_runs_a_campaign(cluster, tmp_path):
    env, ray = cluster
    task = small_task(tmp_path, trials=2)
    task["search"]["initial_configs"] = [GOOD]
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    address = f"http://127.0.0.1:{DASHBOARD_PORT}"
    submit = submit_when_agent_ready(ray, address, env, ["--submission-id", "itest-job", "--",
                                                         "autotuner", "run", str(task_file)])
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    logs = subprocess.run([ray, "job", "logs", "--address", address, "itest-job"],
                          env=env, capture_output=True, text=True, timeout=60).stdout
    assert "level 1/2" in logs and "campaign itest" in logs and "status: finished" in logs, logs[-3000:]
    meta, trials, levels = load_campaign(tmp_path / "campaign")
    assert meta["status"] == "finished" and meta["ray_job_id"] == "itest-job" and len(trials) == 2
    assert shutil.which("autotuner", path=env["PATH"])

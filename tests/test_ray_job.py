"""`ray job submit` against a local `ray start --head` cluster runs a campaign file to the end,
and its progress lines show in `ray job logs`."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from autotuner.results import load_campaign
from tests.test_campaign import GOOD, small_task

pytestmark = pytest.mark.integration

GCS_PORT, DASHBOARD_PORT = "6391", "8276"  # away from the defaults a developer's cluster may use


@pytest.fixture
def ray_head():
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    ray = str(bin_dir / "ray")
    temp_dir = tempfile.mkdtemp(prefix="rayjob-", dir="/tmp")  # short: Ray's unix socket paths must fit 107 bytes
    subprocess.run([ray, "start", "--head", f"--port={GCS_PORT}", f"--dashboard-port={DASHBOARD_PORT}",
                    "--dashboard-host=127.0.0.1", "--num-cpus=2", "--num-gpus=4", "--include-dashboard=true",
                    f"--temp-dir={temp_dir}"], check=True, env=env, capture_output=True, timeout=120)
    try:
        yield env, ray
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_job_submit_runs_a_campaign(ray_head, tmp_path):
    env, ray = ray_head
    task = small_task(tmp_path, trials=2)
    task["search"]["initial_configs"] = [GOOD]
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    address = f"http://127.0.0.1:{DASHBOARD_PORT}"
    submit = subprocess.run([ray, "job", "submit", "--address", address, "--submission-id", "itest-job",
                             "--", "autotuner", "run", str(task_file)],
                            env=env, capture_output=True, text=True, timeout=420)
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    logs = subprocess.run([ray, "job", "logs", "--address", address, "itest-job"],
                          env=env, capture_output=True, text=True, timeout=60).stdout
    assert "level 1/2" in logs and "campaign itest" in logs and "status: finished" in logs, logs[-3000:]
    meta, trials, levels = load_campaign(tmp_path / "campaign")
    assert meta["status"] == "finished" and meta["ray_job_id"] == "itest-job" and len(trials) == 2
    assert shutil.which("autotuner", path=env["PATH"])

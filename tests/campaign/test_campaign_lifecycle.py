"""The campaign folder's life cycle through early failures: Ray that cannot be reached or does
not answer as Ray, Ctrl-C during start-up, a Tuner that raises, a cleanup that fails. Each leaves a folder that says what
happened and that can be run again or resumed."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from autotuner.results.folder import CampaignFolder
from tests.conftest import REPO
from tests.campaign.test_campaign import small_task

pytestmark = pytest.mark.integration


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(task_file, *extra, env_over=None, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_over or {})}
    return subprocess.run([sys.executable, "-m", "autotuner.cli", "run", str(task_file), *extra],
                          capture_output=True, text=True, env=env, cwd=cwd or REPO, timeout=timeout)


def write_task(tmp_path, task) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(task))
    return str(path)


def test_unreachable_ray_fails_fast_and_the_folder_can_be_rerun_and_resumed(tmp_path):
    task_file = write_task(tmp_path, small_task(tmp_path))
    env = {"RAY_ADDRESS": f"127.0.0.1:{closed_port()}"}
    t0 = time.monotonic()
    first = run_cli(task_file, env_over=env)
    assert time.monotonic() - t0 < 60
    assert first.returncode == 1 and "cannot reach the Ray cluster" in first.stderr, first.stderr[-2000:]
    meta, trials, _ = CampaignFolder(tmp_path / "campaign").load()
    assert meta.status == "failed" and "cannot reach the Ray cluster" in meta.error and trials == []
    assert not (tmp_path / "campaign" / "campaign.lock").exists()
    # Nothing ran, so nothing is in the way of running it again or of --resume: both get as far
    # as Ray again (and fail there again, for the same reason).
    for again in (run_cli(task_file, env_over=env), run_cli(task_file, "--resume", env_over=env)):
        assert again.returncode == 1 and "cannot reach the Ray cluster" in again.stderr, again.stderr[-2000:]


def silent_port() -> tuple[socket.socket, list]:
    """A port that accepts connections and never answers; the connections it accepted."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    accepted: list = []
    threading.Thread(target=lambda: [accepted.append(silent.accept()) for _ in range(16)], daemon=True).start()
    return silent, accepted


def test_a_ray_address_that_does_not_answer_as_ray_fails_within_seconds_saying_so(tmp_path):
    """A port that stays silent, or speaks HTTP/1 (the dashboard's, which `ray job submit` takes):
    ray.init would wait on either for minutes."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    silent, _ = silent_port()
    web = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    task_file = write_task(tmp_path, small_task(tmp_path))
    try:
        for port, said in ((silent.getsockname()[1], "did not answer as a Ray cluster within 10 s"),
                           (web.server_address[1], "answers HTTP/1, not Ray's GCS: is it the dashboard's port?")):
            t0 = time.monotonic()
            done = run_cli(task_file, env_over={"RAY_ADDRESS": f"127.0.0.1:{port}"})
            assert time.monotonic() - t0 < 60
            assert done.returncode == 1 and said in done.stderr, done.stderr[-2000:]
            meta, trials, _ = CampaignFolder(tmp_path / "campaign").load()
            assert meta.status == "failed" and said in meta.error and trials == []
    finally:
        web.shutdown()
        silent.close()


def test_ctrl_c_during_start_up_leaves_a_stopped_folder_that_can_be_rerun(tmp_path):
    """Ctrl-C while the campaign waits for Ray's answer (a port that accepts and stays silent)."""
    silent, accepted = silent_port()
    task_file = write_task(tmp_path, small_task(tmp_path))
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{silent.getsockname()[1]}"}
    proc = subprocess.Popen([sys.executable, "-m", "autotuner.cli", "run", task_file], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    meta_path = tmp_path / "campaign" / "campaign.json"
    deadline = time.monotonic() + 60
    while not (meta_path.exists() and accepted) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert json.loads(meta_path.read_text())["status"] == "starting"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 3 and "stopped" in out, out[-2000:]
    meta = json.loads(meta_path.read_text())
    assert meta["status"] == "stopped" and meta["ended"], meta
    assert not (tmp_path / "campaign" / "campaign.lock").exists()
    again = run_cli(task_file, env_over={"RAY_ADDRESS": f"127.0.0.1:{closed_port()}"})
    assert "cannot reach the Ray cluster" in again.stderr, again.stderr[-2000:]
    silent.close()


def test_a_tuner_that_raises_leaves_a_failed_folder_that_can_be_rerun(ray_cluster, tmp_path, monkeypatch):
    from ray import tune

    from autotuner.campaign.driver import run_campaign
    from autotuner.task.load import require_valid

    def broken_fit(self):
        raise RuntimeError("tuner broke")

    monkeypatch.setattr(tune.Tuner, "fit", broken_fit)
    spec = require_valid(small_task(tmp_path))
    for _ in range(2):  # the second run is not refused: the first never started a trial
        with pytest.raises(RuntimeError, match="tuner broke"):
            run_campaign(spec)
        meta = json.loads((tmp_path / "campaign" / "campaign.json").read_text())
        assert meta["status"] == "failed" and "tuner broke" in meta["error"]
        assert not (tmp_path / "campaign" / "campaign.lock").exists()


def test_a_failing_cleanup_does_not_hide_the_original_error(tmp_path):
    """OME backend: the sweep of leftovers cannot reach Kubernetes either; the error the user
    sees is the first one (Ray), and campaign.json records both."""
    task = small_task(tmp_path)
    task["engine"] = {"backend": "ome", "gpu": "H100",
                      "ome": {"base_model": "llama-3-2-1b", "kubeconfig": str(tmp_path / "no-such-kubeconfig")}}
    task["model"]["tokenizer"] = str(tmp_path)
    task_file = write_task(tmp_path, task)
    done = run_cli(task_file, env_over={"RAY_ADDRESS": f"127.0.0.1:{closed_port()}"})
    assert done.returncode == 1 and "cannot reach the Ray cluster" in done.stderr, done.stderr[-2000:]
    meta = json.loads((tmp_path / "campaign" / "campaign.json").read_text())
    assert meta["status"] == "failed" and "cannot reach the Ray cluster" in meta["error"]
    assert "kube-config" in meta["cleanup_error"]


def test_the_cli_warns_when_the_campaign_folder_is_in_rays_temporary_folders(tmp_path):
    session = tmp_path / "ray" / "session_2026-11-27_14-27-21_201793_31757" / "runtime_resources"
    task_file = write_task(tmp_path, small_task(tmp_path))
    done = run_cli(task_file, "--output", str(session / "runs" / "q"),
                   env_over={"RAY_ADDRESS": f"127.0.0.1:{closed_port()}"})
    assert "warning: the campaign folder" in done.stderr and "Ray's temporary folders" in done.stderr, done.stderr
    quiet = run_cli(task_file, env_over={"RAY_ADDRESS": f"127.0.0.1:{closed_port()}"})
    assert "warning" not in quiet.stderr, quiet.stderr

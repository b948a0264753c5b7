"""Fixtures of the web app tests: a fake Ray job API and an app over a temporary workspace (unit
tests), and one real Ray cluster with the app deployed on Serve for the browser tests."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from serve_app.jobs import JobInfo
from tests.conftest import ray_head

TOKEN = "test-token-" + "x" * 20
# Away from Ray's defaults, from the ports tests/test_ray_job.py uses and from the kernel's
# ephemeral range (32768-60999).
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, UI_PORT = 6397, 8278, 20031, 24398, 8128


@dataclass
class FakeJobs:
    """Stands in for :class:`serve_app.jobs.CampaignJobs`; records what the app asked for."""

    jobs: list[JobInfo] = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)

    def submit(self, task_file: Path, *, name: str, folder: Path) -> str:
        self.calls.append(("submit", str(task_file)))
        job_id = f"job-{len(self.calls)}"
        self.jobs.append(JobInfo(job_id, "PENDING", f"autotuner run {task_file}", time.time(),
                                 metadata={"autotuner_task": name, "campaign_folder": str(folder), "source": "web"}))
        return job_id

    def resume(self, folder: Path, *, name: str) -> str:
        self.calls.append(("resume", str(folder)))
        return "job-resume"

    def stop(self, submission_id: str) -> bool:
        self.calls.append(("stop", submission_id))
        return True

    def list(self) -> list[JobInfo]:
        return list(self.jobs)


@pytest.fixture
def fake_jobs() -> FakeJobs:
    return FakeJobs()


@pytest.fixture
def app_factory(tmp_path, fake_jobs):
    """Build the FastAPI app (REST API only) over ``tmp_path/ws``: ``make(host=...)``."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from serve_app.actions import TaskActions
    from serve_app.api import add_api
    from serve_app.context import AppContext
    from serve_app.live import LiveStore
    from serve_app.settings import UiSettings

    def make(host: str = "127.0.0.1"):
        settings = UiSettings(workspace=str(tmp_path / "ws"), token=TOKEN, host=host)
        settings.workspace_path.mkdir(parents=True, exist_ok=True)
        store = LiveStore(settings.roots, jobs=fake_jobs)
        store.refresh_catalog()
        ctx = AppContext(settings, store, TaskActions(settings.workspace_path, store, fake_jobs))
        app = FastAPI()
        add_api(app, ctx)
        return TestClient(app, base_url="http://127.0.0.1:8000"), ctx

    return make


# -- one real cluster with the app on Serve (browser tests) --

@dataclass(frozen=True)
class RunningUI:
    url: str
    token: str
    workspace: Path
    dashboard: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def ui_on_ray():
    """``ray start --head`` (no GPU, 4 slots for simulated trials) + ``autotuner ui`` on it; stopped at the end."""
    workspace = Path(tempfile.mkdtemp(prefix="webws-"))
    token = secrets.token_urlsafe(16)
    with ray_head(GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, prefix="rayweb-") as env:
        out = subprocess.run([str(Path(sys.executable).parent / "autotuner"), "ui", "--address",
                              f"127.0.0.1:{GCS_PORT}", "--port", str(UI_PORT), "--workspace", str(workspace),
                              "--token", token], env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        # captured output is what a log keeps: the token is not in it, where to read it is
        assert token not in out.stdout + out.stderr and "--token or $AUTOTUNER_UI_TOKEN" in out.stdout, out.stdout
        assert f"http://127.0.0.1:{UI_PORT}/" in out.stdout, out.stdout
        ui = RunningUI(f"http://127.0.0.1:{UI_PORT}", token, workspace, f"http://127.0.0.1:{DASHBOARD_PORT}", env)
        _wait_ready(ui.url + "/api/tasks")
        yield ui
    shutil.rmtree(workspace, ignore_errors=True)


def _wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not up after {timeout_s} s")
        time.sleep(0.5)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: bash scripts/setup-tests installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    path = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path

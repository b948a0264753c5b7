"""The access token: 401 and no change without it or with a wrong one; 0600 token file."""

import io
import stat

import pytest

from serve_app.auth import ensure_token, token_matches, token_path
from serve_app.launch import UiInfo, access_lines, token_may_be_printed
from tests.web.conftest import TOKEN
from tests.web.synthetic import write_synthetic_campaign

TASK = """
name: small
model: {name: meta-llama/Llama-3.2-1B-Instruct}
search: {space: {tp_size: {choices: [1]}}}
budget: {trials: 2, gpus: 1}
"""

BAD_TOKENS = [{}, {"Authorization": "Bearer wrong"}, {"X-Autotuner-Token": TOKEN[:-1]},
              {"Authorization": "Bearer "}]


@pytest.mark.parametrize("headers", BAD_TOKENS)
def test_actions_without_the_token_get_401_and_change_nothing(app_factory, fake_jobs, headers):
    client, ctx = app_factory()
    folder = ctx.settings.workspace_path / "stopped"
    write_synthetic_campaign(folder, trials=3, status="interrupted", job_id="job-old", name="stopped")
    ctx.store.refresh_catalog()
    task_id = ctx.store.tasks()[0].id
    before = sorted(p.name for p in ctx.settings.workspace_path.rglob("*"))

    assert client.post("/api/tasks", content=TASK, headers=headers).status_code == 401
    assert client.post(f"/api/tasks/{task_id}/stop", headers=headers).status_code == 401
    assert client.post(f"/api/tasks/{task_id}/resume", headers=headers).status_code == 401
    assert client.get(f"/api/tasks/{task_id}/inferenceservice.yaml", headers=headers).status_code == 401
    assert client.get(f"/api/tasks/{task_id}/spec.yaml", headers=headers).status_code == 401

    assert fake_jobs.calls == []
    assert sorted(p.name for p in ctx.settings.workspace_path.rglob("*")) == before


def test_with_the_token_a_task_is_written_and_submitted(app_factory, fake_jobs):
    client, ctx = app_factory()
    response = client.post("/api/tasks", content=TASK, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 201, response.text
    task_file = ctx.settings.workspace_path / "small" / "task.yaml"
    assert fake_jobs.calls == [("submit", str(task_file))]
    assert f"output: {task_file.parent}" in task_file.read_text()
    # an invalid task is refused with the spec's problems, and nothing is submitted
    bad = client.post("/api/tasks", content=TASK.replace("trials: 2", "trials: 0"),
                      headers={"X-Autotuner-Token": TOKEN})
    assert bad.status_code == 422
    assert [p["path"] for p in bad.json()["detail"]["problems"]] == ["budget.trials"]
    assert len(fake_jobs.calls) == 1


def test_viewing_is_open_on_localhost_only(app_factory):
    local, _ = app_factory("127.0.0.1")
    assert local.get("/api/tasks").status_code == 200
    exposed, _ = app_factory("0.0.0.0")
    assert exposed.get("/api/tasks").status_code == 401
    assert exposed.get("/api/tasks", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # a page link with ?token= sets a cookie that works for the rest of the visit
    first = exposed.get(f"/task?id=a&token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/task?id=a"
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert exposed.get("/api/tasks").status_code == 200


def test_token_file_is_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOTUNER_UI_TOKEN", raising=False)
    token = ensure_token(tmp_path)
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600
    assert ensure_token(tmp_path) == token and len(token) >= 32
    assert ensure_token(tmp_path, "given-0123456789abcdef") == "given-0123456789abcdef"
    monkeypatch.setenv("AUTOTUNER_UI_TOKEN", "from-env-0123456789abcdef")
    assert ensure_token(tmp_path) == "from-env-0123456789abcdef"


def test_token_comparison():
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc") and not token_matches(None, "abc") and not token_matches("", "")


def test_the_token_is_printed_to_a_terminal_only(tmp_path, monkeypatch):
    info = UiInfo(url="http://127.0.0.1:8000/", token=TOKEN, token_file=tmp_path / "ui_token",
                  dashboard_url="http://127.0.0.1:8265", started_cluster=False)
    logged = "\n".join(access_lines(info, show_token=False))
    assert TOKEN not in logged and f"cat {tmp_path / 'ui_token'}" in logged
    assert TOKEN in "\n".join(access_lines(info, show_token=True))

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert token_may_be_printed(Terminal()) and not token_may_be_printed(io.StringIO())
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", '{"metadata": {"job_submission_id": "raysubmit_1"}}')
    assert not token_may_be_printed(Terminal())  # `ray job submit -- autotuner ui`: the job's logs keep it

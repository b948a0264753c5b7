"""The access token: 401 and no change without it or with a wrong one; 0600 token file; a weak
token refused; a client that guesses locked out for a while."""

import io
import stat
import time

import pytest
import requests

from serve_app.auth import TOKEN_COOKIE, WeakTokenError, ensure_token, token_matches, token_path
from serve_app.launch import UiInfo, access_lines, token_may_be_printed
from tests.web.conftest import TOKEN
from tests.web.doors import served_app
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


# -- a token too weak to guard the app, and a client that guesses --

@pytest.mark.parametrize(("args", "env", "said"), [
    (["--token", "a"], {}, "--token is 1 characters long"),
    ([], {"AUTOTUNER_UI_TOKEN": "short-token"}, "$AUTOTUNER_UI_TOKEN is 11 characters long"),
    (["--token", "ab" * 12], {}, "repeats a few characters"),
])
def test_a_weak_token_is_refused_before_anything_starts(tmp_path, args, env, said):
    import os
    import subprocess
    import sys
    from pathlib import Path

    autotuner = str(Path(sys.executable).parent / "autotuner")
    # an address where no cluster runs: the refusal must come before any attempt to reach one
    out = subprocess.run([autotuner, "ui", "--workspace", str(tmp_path / "ws"), "--address", "127.0.0.1:9", *args],
                         env={**os.environ, "AUTOTUNER_UI_TOKEN": "", **env}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert said in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_weak_token_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOTUNER_UI_TOKEN", raising=False)
    token_path(tmp_path).parent.mkdir(parents=True)
    token_path(tmp_path).write_text("a\n")
    with pytest.raises(WeakTokenError, match="token file"):
        ensure_token(tmp_path)


def _get(url: str, token: str, source: str = "127.0.0.1") -> tuple[int, int]:
    """GET ``url`` with ``token`` from the local address ``source`` (any 127.x.y.z is this machine):
    the status and the seconds Retry-After asks for (0 when it asks for none)."""
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30, source_address=(source, 0))
    conn.request("GET", parsed.path, headers={"Authorization": f"Bearer {token}", "Host": parsed.netloc})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer.status, int(answer.getheader("Retry-After") or 0)


def test_guessing_tokens_gets_a_client_locked_out(tmp_path):
    with served_app(tmp_path, host="0.0.0.0") as url:
        api = url + "/api/tasks"
        statuses = [_get(api, f"guess-{i:04d}-xxxxxxxxxx")[0] for i in range(30)]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
        status, retry_after = _get(api, TOKEN)
        assert status == 429 and retry_after >= 1  # the right token is not even compared
        # through the token form, too
        form = requests.post(url + "/api/session", data={"token": TOKEN, "next": "/"}, allow_redirects=False,
                             timeout=30)
        assert form.status_code == 429
        # another client is not held up
        assert _get(api, TOKEN, source="127.0.0.2")[0] == 200
        # the lock-out ends; the right token then resets the count
        time.sleep(retry_after)
        while (answer := _get(api, TOKEN))[0] == 429:  # a lock grown longer while the test ran
            time.sleep(answer[1])
        assert answer[0] == 200
        assert [_get(api, f"again-{i}-xxxxxxxxxxxx")[0] for i in range(4)] == [401] * 4


def test_a_stale_cookie_counts_once(tmp_path):
    """A token cookie from an earlier run of the app rides on every request of a page: one mistake."""
    with served_app(tmp_path, host="0.0.0.0") as url:
        stale = {TOKEN_COOKIE: "token-of-an-earlier-run-0123"}
        assert {requests.get(url + "/api/tasks", cookies=stale, timeout=30).status_code for _ in range(20)} == {401}
        login = requests.post(url + "/api/session", data={"token": TOKEN, "next": "/"}, cookies=stale,
                              allow_redirects=False, timeout=30)
        assert login.status_code == 303 and "refused" not in login.headers["location"]

"""The access token lets its holder start campaigns, not run programs: a task posted over HTTP that
names a command line, an interpreter, environment variables, a real engine's extra flags or an OME
command is refused (403, each field named) and nothing is written or submitted, unless the operator
started the app with ``autotuner ui --allow-commands``. Resuming a campaign that runs a command is
refused the same way."""

from __future__ import annotations

import copy
import json

import pytest
import requests
import yaml

from tests.web.conftest import TOKEN, FakeJobs
from tests.web.doors import served_app
from tests.web.synthetic import write_synthetic_campaign

BEARER = {"Authorization": f"Bearer {TOKEN}"}
TASK = {
    "name": "attack", "model": {"name": "meta-llama/Llama-3.2-1B-Instruct", "path": "/tmp", "tokenizer": "/tmp"},
    "engine": {"local": {"command": "simulator"}},
    "search": {"space": {"tp_size": {"choices": [1]}}}, "budget": {"trials": 2, "gpus": 1},
}
SHELL = ["/bin/sh", "-c", "id > /tmp/owned"]


def task(**local) -> str:
    data = copy.deepcopy(TASK)
    data["engine"]["local"].update(local)
    return yaml.safe_dump(data)


ATTACKS = {
    "engine.local.command": task(command=SHELL),
    "engine.local.python": task(python="/bin/sh"),
    "engine.local.env": task(env={"LD_PRELOAD": "/tmp/evil.so"}),
    "engine.local.extra_args": task(command="engine", extra_args=["--middleware", "evil.module"]),
}


@pytest.fixture
def jobs() -> FakeJobs:
    return FakeJobs()


@pytest.mark.parametrize("field", sorted(ATTACKS))
def test_a_task_that_would_run_a_program_is_refused(tmp_path, jobs, field):
    with served_app(tmp_path, host="0.0.0.0", jobs=jobs) as url:
        answer = requests.post(url + "/api/tasks", data=ATTACKS[field], headers=BEARER, timeout=30)
    assert answer.status_code == 403, answer.text
    problems = answer.json()["detail"]["problems"]
    assert field in [p["path"] for p in problems]
    assert all("--allow-commands" in p["message"] for p in problems)
    assert jobs.calls == [] and list(tmp_path.iterdir()) == []  # nothing written, nothing started


def test_an_ome_command_is_refused(tmp_path, jobs):
    data = copy.deepcopy(TASK)
    data["engine"] = {"backend": "ome", "ome": {"base_model": "llama-3-2-1b-instruct",
                                                "command_override": SHELL}}
    with served_app(tmp_path, host="0.0.0.0", jobs=jobs) as url:
        answer = requests.post(url + "/api/tasks", data=json.dumps(data), headers=BEARER, timeout=30)
    assert answer.status_code == 403, answer.text
    assert [p["path"] for p in answer.json()["detail"]["problems"]] == ["engine.ome.command_override"]
    assert jobs.calls == []


def test_the_simulator_and_the_engine_entry_point_are_submitted(tmp_path, jobs):
    with served_app(tmp_path, host="0.0.0.0", jobs=jobs) as url:
        simulated = requests.post(url + "/api/tasks", data=task(extra_args=["--log-level", "info"]),
                                  headers=BEARER, timeout=30)
        engine = requests.post(url + "/api/tasks", data=task(command="engine").replace("attack", "real"),
                               headers=BEARER, timeout=30)
    assert (simulated.status_code, engine.status_code) == (201, 201), simulated.text + engine.text
    assert [name for _, name in jobs.calls] == [str(tmp_path / "attack" / "task.yaml"),
                                                str(tmp_path / "real" / "task.yaml")]


def test_with_allow_commands_the_operator_lets_commands_through(tmp_path, jobs):
    with served_app(tmp_path, host="0.0.0.0", jobs=jobs, allow_commands=True) as url:
        answer = requests.post(url + "/api/tasks", data=ATTACKS["engine.local.command"], headers=BEARER, timeout=30)
    assert answer.status_code == 201, answer.text
    assert jobs.calls == [("submit", str(tmp_path / "attack" / "task.yaml"))]


def test_a_campaign_that_runs_a_command_is_not_resumed_from_the_web(tmp_path, jobs):
    folder = tmp_path / "cli-started"
    write_synthetic_campaign(folder, trials=2, status="interrupted", name="cli-started")
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec["engine"]["local"]["command"] = SHELL
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    with served_app(tmp_path, host="0.0.0.0", jobs=jobs) as url:
        task_id = requests.get(url + "/api/tasks", headers=BEARER, timeout=30).json()[0]["id"]
        answer = requests.post(f"{url}/api/tasks/{task_id}/resume", headers=BEARER, timeout=30)
    assert answer.status_code == 403, answer.text
    assert "engine.local.command" in [p["path"] for p in answer.json()["detail"]["problems"]]
    assert jobs.calls == []

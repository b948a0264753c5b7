"""POST /api/tasks: the token is checked before the body is read, and the body is size-limited
and parsed within the safe YAML limits (an alias bomb is a 422, not a hang)."""

from tests.task.test_safe_yaml import alias_bomb
from tests.web.conftest import TOKEN
from tests.web.test_auth import TASK

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_without_the_token_an_upload_is_refused_before_its_size_or_content(app_factory, fake_jobs):
    client, _ = app_factory()
    assert client.post("/api/tasks", content=b"x" * 3_000_000).status_code == 401
    assert client.post("/api/tasks", content=alias_bomb()).status_code == 401
    assert fake_jobs.calls == []


def test_an_upload_over_the_size_limit_gets_413(app_factory, fake_jobs):
    client, _ = app_factory()
    response = client.post("/api/tasks", content=TASK + "#" * 1_000_000, headers=AUTH)
    assert response.status_code == 413 and "1000000 bytes" in response.text

    def chunks():  # no Content-Length: the limit holds while reading
        yield TASK.encode()
        for _ in range(20):
            yield b"#" * 100_000

    assert client.post("/api/tasks", content=chunks(), headers=AUTH).status_code == 413
    assert fake_jobs.calls == []


def test_an_alias_bomb_gets_the_problem_not_a_hang(app_factory, fake_jobs):
    client, _ = app_factory()
    response = client.post("/api/tasks", content=TASK + "extra:\n  " + alias_bomb().replace("\n", "\n  "),
                           headers=AUTH)
    assert response.status_code == 422
    assert "once aliases are expanded" in response.json()["detail"]["problems"][0]["message"]
    assert fake_jobs.calls == []

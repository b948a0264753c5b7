"""No request without the token reaches the app's internals: Panel's ``/components/<module>/...``
route imported any module a URL named (genai-bench's import monkey-patches the process through
gevent, after which every request hangs), and FastAPI's schema pages described every route. The
app runs on a real HTTP server (uvicorn); the pages are loaded in Chromium to show they need none
of it."""

from __future__ import annotations

import sys

import pytest
import requests

from tests.web.conftest import TOKEN
from tests.web.doors import served_app
from tests.web.synthetic import write_synthetic_campaign

CANARY = "tests.web.import_canary"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    """The app on localhost (viewing open) and as on a KubeRay head (``--host 0.0.0.0``)."""
    local_ws, exposed_ws = tmp_path_factory.mktemp("comp-local"), tmp_path_factory.mktemp("comp-exposed")
    write_synthetic_campaign(local_ws / "camp", trials=3, status="finished", name="camp")
    with served_app(local_ws, host="127.0.0.1") as local, served_app(exposed_ws, host="0.0.0.0") as exposed:
        yield local, exposed


def test_a_url_cannot_make_the_app_import_a_module(apps):
    local, exposed = apps
    sys.modules.pop(CANARY, None)
    for url, headers in ((exposed, {}), (exposed, BEARER), (local, {}), (local, BEARER)):
        for path in (f"/components/{CANARY}/x/_css/x.css", f"/components/{CANARY}/css/_css/x.css"):
            answer = requests.get(url + path, headers=headers, timeout=30)
            assert answer.status_code == (401 if url == exposed and not headers else 404), (url, path, answer.text)
    assert CANARY not in sys.modules  # the app imported nothing the URL named


def test_after_the_genai_bench_url_the_api_still_answers(apps):
    local, exposed = apps
    assert requests.get(exposed + "/components/genai_bench.cli.cli/x/_css/y", timeout=30).status_code == 401
    assert requests.get(local + "/components/genai_bench.cli.cli/x/_css/y", timeout=30).status_code == 404
    assert "genai_bench" not in sys.modules and "gevent.monkey" not in sys.modules
    assert requests.get(local + "/api/tasks", timeout=30).status_code == 200
    assert requests.get(exposed + "/api/tasks", headers=BEARER, timeout=30).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_no_schema_pages(apps, path):
    local, exposed = apps
    assert requests.get(exposed + path, timeout=30).status_code == 401
    assert requests.get(exposed + path, headers=BEARER, timeout=30).status_code == 404
    assert requests.get(local + path, timeout=30).status_code == 404


@pytest.mark.browser
def test_the_pages_load_nothing_from_components(apps, browser):
    """Every page, rendered and live in Chromium, asks nothing of /components/ and nothing fails."""
    local, _ = apps
    task_id = requests.get(local + "/api/tasks", timeout=30).json()[0]["id"]
    page = browser.new_page()
    asked: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    for path in ("/", "/new", f"/task?id={task_id}"):
        page.goto(local + path)
        page.wait_for_selector(".bk-panel-models-layout-Column, .bk-Column", state="attached", timeout=60_000)
        page.wait_for_load_state("networkidle")  # what the live session loads lazily, too
    page.close()
    assert len(asked) > 10
    assert [u for u in asked if "/components/" in u] == [] and failed == []

"""Every door of the web app needs what the pages need: the Bokeh/Panel websocket too (signed
session ids from a page load, same Origin, the token when the app listens beyond localhost), a
local Host header while it listens on localhost, the token for engine logs, and the token never in
what the page sends to the browser.

The app runs here on a real HTTP server (uvicorn) without Ray; tests/web/test_app_on_ray.py knocks
on the same doors through Ray Serve's proxy."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
import requests
from bokeh.util.token import generate_jwt_token, generate_session_id

from serve_app.auth import TOKEN_COOKIE
from serve_app.gate import Knock, decide
from tests.web.conftest import TOKEN
from tests.web.doors import served_app, session_token, ws_handshake
from tests.web.synthetic import write_synthetic_campaign

SWITCHING = 101


def forged_session_token() -> str:
    """A session token as an attacker can make one: unsigned, with a payload of their choosing."""
    sid = generate_session_id(secret_key=None, signed=False)
    return generate_jwt_token(sid, secret_key=None, signed=False,
                              extra_payload={"headers": {}, "cookies": {}, "arguments": {}})


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    """The app as `autotuner ui` runs it by default: listening on localhost, viewing open."""
    workspace = tmp_path_factory.mktemp("doors-local")
    write_synthetic_campaign(workspace / "camp", trials=3, status="finished", name="camp")
    with served_app(workspace, host="127.0.0.1") as url:
        yield url


@pytest.fixture(scope="module")
def exposed_app(tmp_path_factory):
    """The app as on a KubeRay head (``--host 0.0.0.0``): every door needs the token."""
    with served_app(tmp_path_factory.mktemp("doors-exposed"), host="0.0.0.0") as url:
        yield url


def test_a_forged_session_is_refused(local_app):
    assert ws_handshake(local_app, "/ws", forged_session_token(), origin=local_app) != SWITCHING


def test_a_session_from_a_page_load_is_accepted_from_its_own_origin_only(local_app):
    page = requests.get(local_app + "/", timeout=30)
    assert page.status_code == 200
    token = session_token(page.text)
    assert ws_handshake(local_app, "/ws", token, origin="http://evil.example") != SWITCHING
    assert ws_handshake(local_app, "/ws", token, origin=None) != SWITCHING
    assert ws_handshake(local_app, "/ws", token, origin=local_app) == SWITCHING


def test_without_the_token_no_session_opens_on_an_exposed_app(exposed_app):
    assert requests.get(exposed_app + "/", timeout=30).status_code == 401
    assert ws_handshake(exposed_app, "/ws", forged_session_token(), origin=exposed_app) != SWITCHING
    page = requests.get(exposed_app + "/", cookies={TOKEN_COOKIE: TOKEN}, timeout=30)
    assert page.status_code == 200
    token = session_token(page.text)
    assert ws_handshake(exposed_app, "/ws", token, origin=exposed_app) != SWITCHING  # no token cookie
    assert ws_handshake(exposed_app, "/ws", token, origin=exposed_app, cookie=f"{TOKEN_COOKIE}={TOKEN}") == SWITCHING


def test_a_foreign_host_header_is_refused_on_localhost(local_app):
    # A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own Host.
    assert requests.get(local_app + "/", headers={"Host": "evil.example:8000"}, timeout=30).status_code == 403
    assert requests.get(local_app + "/api/tasks", headers={"Host": "evil.example"}, timeout=30).status_code == 403
    token = session_token(requests.get(local_app + "/", timeout=30).text)
    assert ws_handshake(local_app, "/ws", token, origin="http://evil.example:8000",
                        host="evil.example:8000") != SWITCHING
    assert requests.get(local_app.replace("127.0.0.1", "localhost") + "/api/tasks", timeout=30).status_code == 200


def test_engine_logs_need_the_token(local_app):
    task = requests.get(local_app + "/api/tasks", timeout=30).json()[0]
    trial = requests.get(f"{local_app}/api/tasks/{task['id']}", timeout=30).json()["trials"][0]["trial_id"]
    log = Path(task["folder"]) / "trials" / trial / "engine.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("engine started with --api-key ...\n")
    url = f"{local_app}/api/tasks/{task['id']}/trials/{trial}/engine.log"
    assert requests.get(url, timeout=30).status_code == 401
    shown = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert shown.status_code == 200 and "engine started" in shown.text


def test_the_token_never_reaches_the_page(local_app):
    with_cookie = requests.get(local_app + "/task?id=x", cookies={TOKEN_COOKIE: TOKEN}, timeout=30)
    assert with_cookie.status_code == 200
    assert TOKEN not in with_cookie.text and TOKEN not in session_payload(session_token(with_cookie.text))
    # the link `autotuner ui` prints: a redirect to the page without the token, which the cookie carries
    link = requests.get(f"{local_app}/new?token={TOKEN}", allow_redirects=False, timeout=30)
    assert link.status_code == 303 and TOKEN not in link.headers["location"]
    assert link.headers["location"].startswith("/new")
    assert "samesite=strict" in link.headers["set-cookie"].lower() and "httponly" in link.headers["set-cookie"].lower()


def test_the_token_form_sets_the_cookie_and_returns_to_the_page(local_app):
    good = requests.post(local_app + "/api/session", data={"token": TOKEN, "next": "/task?id=a"},
                         allow_redirects=False, timeout=30)
    assert good.status_code == 303 and good.headers["location"] == "/task?id=a"
    assert f"{TOKEN_COOKIE}={TOKEN}" in good.headers["set-cookie"]
    bad = requests.post(local_app + "/api/session", data={"token": "wrong", "next": "/"}, allow_redirects=False,
                        timeout=30)
    assert bad.status_code == 303 and "set-cookie" not in bad.headers and "refused" in bad.headers["location"]
    elsewhere = requests.post(local_app + "/api/session", data={"token": TOKEN, "next": "//evil.example/"},
                              allow_redirects=False, timeout=30)
    assert elsewhere.headers["location"] == "/"
    # a form of another site cannot post to the app (cross-site request forgery)
    foreign = requests.post(local_app + "/api/session", data={"token": TOKEN, "next": "/"},
                            headers={"Origin": "http://evil.example"}, allow_redirects=False, timeout=30)
    assert foreign.status_code == 403


def session_payload(token: str) -> str:
    """Everything a session token carries, as the page's scripts can read it."""
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    packed = payload.pop("__bk__zlib_", None)
    inner = zlib.decompress(base64.urlsafe_b64decode(packed + "==")).decode() if packed else ""
    return json.dumps(payload) + inner



@pytest.mark.parametrize(("host", "local"), [("127.0.0.1:8000", True), ("localhost", True), ("[::1]:8000", True),
                                             ("evil.example:8000", False), ("127.0.0.1.evil.example", False)])
def test_local_hosts(host, local):
    knock = Knock("http", "GET", "/", host, None, token_ok=False, query_token=False)
    assert decide(knock, local_only=True).allowed is local


def test_api_calls_with_a_query_token_are_answered_not_redirected():
    knock = Knock("http", "GET", "/api/tasks", "10.0.0.5:8000", None, token_ok=True, query_token=True)
    assert decide(knock, local_only=False).allowed
    assert decide(Knock("http", "GET", "/task", "10.0.0.5:8000", None, True, True), local_only=False).status == 303


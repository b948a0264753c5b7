"""Helpers to knock on the web app's doors: the app on a real HTTP server without Ray, a raw
websocket handshake, and the session token a page carries::

    with served_app(workspace, host="0.0.0.0") as url:
        status = ws_handshake(url, "/ws", session_token(requests.get(url + "/").text), origin=url)
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from tests.web.conftest import TOKEN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_app(workspace: Path, *, host: str, jobs: Any = None, allow_commands: bool = False) -> Iterator[str]:
    """The whole app (pages and API) over ``workspace`` on uvicorn at 127.0.0.1; ``host`` is the
    address the app believes it listens on (it decides whether viewing needs the token); ``jobs``
    stands in for the Ray job API (tests.web.conftest.FakeJobs)."""
    import uvicorn

    from serve_app.actions import TaskActions
    from serve_app.asgi import build_asgi_app
    from serve_app.context import AppContext
    from serve_app.live import LiveStore
    from serve_app.settings import UiSettings

    settings = UiSettings(workspace=str(workspace), token=TOKEN, host=host, allow_commands=allow_commands)
    store = LiveStore(settings.roots, jobs=jobs)
    store.refresh_catalog()
    ctx = AppContext(settings, store, TaskActions(settings.workspace_path, store, jobs=jobs,
                                                  allow_commands=settings.allow_commands))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_asgi_app(ctx), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def ws_handshake(base_url: str, path: str, session: str | None, *, origin: str | None,
                 host: str | None = None, cookie: str | None = None) -> int:
    """The HTTP status a websocket upgrade request gets (101: the session opened). Sent byte by
    byte as a browser would, with the Bokeh session token as the second subprotocol."""
    url = urlparse(base_url)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host or url.netloc}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"]
    if session:
        lines.append(f"Sec-WebSocket-Protocol: bokeh, {session}")
    if origin:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return 0  # closed without an answer
            head += chunk
    return int(head.split(b"\r\n")[0].split()[1])


def session_token(page_html: str) -> str:
    """The Bokeh session token a page embeds for its websocket."""
    found = re.search(r'"token"\s*:\s*"([^"]+)"', page_html)
    assert found, "no session token in the page"
    return found.group(1)

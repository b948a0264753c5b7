"""The web app's access token: made once per workspace, kept in a 0600 file, compared in constant
time.

Actions that change something (submit, stop, resume) and downloads need it; viewing may be open
when the app only listens on localhost::

    token = ensure_token(Path("~/autotuner").expanduser())     # or --token / AUTOTUNER_UI_TOKEN
    token_matches(request_token(headers, cookies, query), token)
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Mapping

TOKEN_ENV = "AUTOTUNER_UI_TOKEN"
TOKEN_COOKIE = "autotuner_token"
TOKEN_HEADER = "x-autotuner-token"
TOKEN_FILE = ".autotuner/ui_token"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def token_path(workspace: Path) -> Path:
    return workspace / TOKEN_FILE


def ensure_token(workspace: Path, given: str | None = None) -> str:
    """The token to use: ``given`` (--token), else $AUTOTUNER_UI_TOKEN, else the workspace's token
    file, else a new random one written to that file (owner read/write only)."""
    token = given or os.environ.get(TOKEN_ENV)
    path = token_path(workspace)
    if token:
        return token
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    # O_EXCL + mode: the file is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def request_token(headers: Mapping[str, str], cookies: Mapping[str, str],
                  query: Mapping[str, str]) -> str | None:
    """The token a request carries: ``Authorization: Bearer``, the X-Autotuner-Token header, the
    cookie the app sets, or ``?token=`` (the link ``autotuner ui`` prints)."""
    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return lower.get(TOKEN_HEADER) or cookies.get(TOKEN_COOKIE) or query.get("token")


def viewing_is_open(host: str) -> bool:
    """Read-only pages need no token only when the app listens on localhost alone."""
    return host in LOCAL_HOSTS

"""The web app's access token: made once per workspace, kept in a 0600 file, compared in constant
time, and a back-off for clients that send wrong ones.

Actions that change something (submit, stop, resume) and downloads need it; viewing may be open
when the app only listens on localhost::

    token = ensure_token(Path("~/autotuner").expanduser())     # or --token / AUTOTUNER_UI_TOKEN
    token_matches(request_token(headers, cookies, query), token)
    backoff = WrongTokenBackoff(); backoff.retry_after(client)   # 0: may try; else seconds to wait
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

TOKEN_ENV = "AUTOTUNER_UI_TOKEN"
TOKEN_COOKIE = "autotuner_token"
TOKEN_HEADER = "x-autotuner-token"
TOKEN_FILE = ".autotuner/ui_token"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A token must resist guessing at the rate one client is allowed (see WrongTokenBackoff).
MIN_TOKEN_CHARS = 16
MIN_TOKEN_DISTINCT_CHARS = 8


class WeakTokenError(ValueError):
    """A token given to the app (--token, $AUTOTUNER_UI_TOKEN, the token file) is too easy to guess."""


def token_problem(token: str) -> str | None:
    """Why ``token`` is too weak to guard the app, or None."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"is {len(token)} characters long; it must have at least {MIN_TOKEN_CHARS}"
    if len(set(token)) < MIN_TOKEN_DISTINCT_CHARS:
        return f"repeats a few characters; it needs at least {MIN_TOKEN_DISTINCT_CHARS} different ones"
    return None


def token_path(workspace: Path) -> Path:
    return workspace / TOKEN_FILE


def ensure_token(workspace: Path, given: str | None = None) -> str:
    """The token to use: ``given`` (--token), else $AUTOTUNER_UI_TOKEN, else the workspace's token
    file, else a new random one written to that file (owner read/write only). Raises
    :class:`WeakTokenError` for a token that is too easy to guess (see :func:`token_problem`)."""
    path = token_path(workspace)
    for token, source in ((given, "--token"), (os.environ.get(TOKEN_ENV), f"${TOKEN_ENV}"),
                          (path.read_text().strip() if path.exists() else None, f"the token file {path}")):
        if not token:
            continue
        if (why := token_problem(token)) is not None:
            raise WeakTokenError(f"the access token from {source} {why}: use a long random one, or none "
                                 f"(the app then makes one and keeps it in WORKSPACE/{TOKEN_FILE})")
        return token
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


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0
    last_token: bytes = b""  # a digest of the last wrong token


class WrongTokenBackoff:
    """Wrong tokens per client address: after ``free`` different ones within ``window_s``, the client
    is refused for ``first_lock_s`` seconds, doubling with each further wrong token up to
    ``max_lock_s``; a right token resets the count. While refused, a client's tokens are not even
    compared, so a guess teaches it nothing. The same wrong token again (a stale cookie on every
    request of a page) counts once. Thread-safe (the login form checks from a worker thread)."""

    MAX_CLIENTS = 4096  # past this, clients with nothing pending are forgotten

    def __init__(self, free: int = 5, window_s: float = 60.0, first_lock_s: float = 5.0,
                 max_lock_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.free, self.window_s, self.first_lock_s, self.max_lock_s = free, window_s, first_lock_s, max_lock_s
        self.clock = clock
        self._clients: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must wait before its next token is looked at (0: now)."""
        with self._lock:
            entry = self._clients.get(client)
            return max(0.0, entry.locked_until - self.clock()) if entry else 0.0

    def failed(self, client: str, token: str) -> None:
        now = self.clock()
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            entry = self._clients.get(client)
            if entry is None or (now - entry.last > self.window_s and now >= entry.locked_until):
                if len(self._clients) >= self.MAX_CLIENTS:
                    self._forget_idle(now)
                entry = self._clients[client] = _Failures()
            elif digest == entry.last_token:
                return
            entry.count += 1
            entry.last_token = digest
            entry.last = now
            if entry.count >= self.free:
                lock_s = min(self.first_lock_s * 2 ** (entry.count - self.free), self.max_lock_s)
                entry.locked_until = now + lock_s

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)

    def _forget_idle(self, now: float) -> None:
        self._clients = {c: e for c, e in self._clients.items()
                         if now - e.last <= self.window_s or now < e.locked_until}

"""The one gate in front of every door of the web app: HTTP routes and the Bokeh/Panel websocket.

The rules (a pure function, :func:`decide`, applied by the ASGI middleware :class:`AccessGate`):

- **Host.** While the app listens on localhost only, a request must name a local host: a page of
  another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name and is refused.
- **Origin.** A websocket, and any request that changes something, must come from the app's own
  origin: another site open in the same browser can neither drive a session nor post a form.
- **Token.** When the app listens beyond localhost, every route but static files and the token
  form, and every websocket, needs the token (cookie, ``Authorization: Bearer``,
  ``X-Autotuner-Token``, ``?token=``). Panel's ``/components/`` route (it imports any module a URL
  names) is not served at all: the pages load nothing from it (see :mod:`serve_app.asgi`).
- **Wrong tokens.** A client address that sent several wrong tokens is answered 429 for a while,
  longer each time (:class:`serve_app.auth.WrongTokenBackoff`): its tokens are not even compared.
- **?token= on a page** is answered by a redirect to the same page without it, setting the cookie:
  the token leaves the address bar, the history and the Referer of every link.

Sessions are also signed (see :func:`serve_app.asgi.build_asgi_app`): a websocket can only open a
session that a page load which passed this gate created. The gate tells the pages whether the
request carried the token with the :data:`ACCESS_HEADER` it sets (and strips from what clients
send); Bokeh keeps the page request's headers in the signed session, so a session knows whether it
may act without the token itself ever being copied into what the page receives.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode, urlparse

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from serve_app.auth import LOCAL_HOSTS, TOKEN_COOKIE, WrongTokenBackoff, request_token

PUBLIC_PREFIXES = ("/static/", "/favicon.ico")
ACCESS_HEADER = "x-autotuner-access"
ACCESS_GRANTED = "granted"
LOGIN_PATH = "/api/session"  # the token form posts here (see serve_app.api)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

LOGIN_PAGE = """<!doctype html><title>SGLang autotuner: access token</title>
<p>This app needs its access token. <code>autotuner ui</code> says where to read it
(<code>WORKSPACE/.autotuner/ui_token</code> by default).</p>
<form method="post" action="/api/session"><input type="hidden" name="next" value="{next}">
<input type="password" name="token" placeholder="access token" autocomplete="current-password" autofocus>
<button>Open</button></form>"""


@dataclass(frozen=True)
class Knock:
    """What the gate looks at in one request."""

    kind: str  # "http" or "websocket"
    method: str
    path: str
    host: str  # the Host header
    origin: str | None  # the Origin header
    token_ok: bool  # the request carries the right token
    query_token: bool  # the token came as ?token=


@dataclass(frozen=True)
class Verdict:
    """Let in (status 0), refuse (status, message), or redirect (status 303, location)."""

    status: int = 0
    message: str = ""
    location: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 0


ALLOW = Verdict()


def host_name(host_header: str) -> str:
    """``127.0.0.1:8000`` -> ``127.0.0.1``; ``[::1]:8000`` -> ``::1``."""
    return (urlparse(f"//{host_header}").hostname or "").lower()


def same_origin(origin: str | None, host_header: str) -> bool:
    """Whether an Origin header names the host (and port) the request was sent to."""
    return bool(origin) and urlparse(origin).netloc.lower() == host_header.lower()


def decide(knock: Knock, *, local_only: bool) -> Verdict:
    """The gate's rules; ``local_only``: the app listens on localhost only (viewing is then open)."""
    if local_only and host_name(knock.host) not in LOCAL_HOSTS:
        return Verdict(403, f"this app answers to localhost only, not to Host {knock.host!r}")
    if knock.kind == "websocket":
        if not same_origin(knock.origin, knock.host):
            return Verdict(403, "a session must come from a page of this app (Origin)")
        if not local_only and not knock.token_ok:
            return Verdict(401, "a session needs the app's access token")
        return ALLOW
    if knock.method not in SAFE_METHODS and knock.origin is not None and not same_origin(knock.origin, knock.host):
        return Verdict(403, "a request from another site (Origin) cannot change anything here")
    public = knock.path.startswith(PUBLIC_PREFIXES) or knock.path == LOGIN_PATH
    if not local_only and not knock.token_ok and not public:
        return Verdict(401, "this app needs its access token (see `autotuner ui`)")
    if knock.query_token and knock.token_ok and knock.method == "GET" and not knock.path.startswith("/api/"):
        return Verdict(303, location=knock.path)
    return ALLOW


def without_token(path: str, query: list[tuple[str, str]]) -> str:
    """The page's path and query without ``token``."""
    rest = [(k, v) for k, v in query if k != "token"]
    return path + (f"?{urlencode(rest)}" if rest else "")


def set_token_cookie(response: Response, token: str) -> None:
    """The cookie that carries the token for the rest of the visit; scripts cannot read it."""
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")


def client_address(scope: dict[str, Any]) -> str:
    """The address a request came from (the back-off's key)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def too_many_wrong_tokens(retry_after_s: float) -> Response:
    wait = max(1, round(retry_after_s + 0.5))
    return JSONResponse({"detail": f"too many wrong access tokens from this address: try again in {wait} s"},
                        status_code=429, headers={"Retry-After": str(wait)})


def with_access_header(scope: dict[str, Any], granted: bool) -> dict[str, Any]:
    """The request as the app sees it: any access header a client sent removed, the gate's added."""
    name = ACCESS_HEADER.encode()
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != name]
    if granted:
        headers.append((name, ACCESS_GRANTED.encode()))
    return {**scope, "headers": headers}


def access_granted(headers: dict[str, Any]) -> bool:
    """Whether the request that opened a page session carried the token (see :data:`ACCESS_HEADER`)."""
    return any(k.lower() == ACCESS_HEADER and v == ACCESS_GRANTED for k, v in (headers or {}).items())


class AccessGate:
    """ASGI middleware applying :func:`decide` to every HTTP request and websocket."""

    def __init__(self, app: Any, *, local_only: bool, authorized: Callable[[str | None], bool],
                 backoff: WrongTokenBackoff):
        self.app = app
        self.local_only = local_only
        self.authorized = authorized
        self.backoff = backoff

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        token = request_token(conn.headers, conn.cookies, conn.query_params)
        client = client_address(scope)
        if token and (wait := self.backoff.retry_after(client)) > 0:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "too many wrong access tokens"})
            else:
                await too_many_wrong_tokens(wait)(scope, receive, send)
            return
        token_ok = self.authorized(token)
        if token_ok:
            self.backoff.succeeded(client)
        elif token:
            self.backoff.failed(client, token)
        knock = Knock(kind=scope["type"], method=scope.get("method", "GET"), path=conn.url.path,
                      host=conn.headers.get("host", ""), origin=conn.headers.get("origin"), token_ok=token_ok,
                      query_token="token" in conn.query_params)
        verdict = decide(knock, local_only=self.local_only)
        if verdict.allowed:
            await self.app(with_access_header(scope, token_ok), receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": verdict.message})  # 403 to the client
            return
        response = self._response(verdict, conn, token)
        await response(scope, receive, send)

    @staticmethod
    def _response(verdict: Verdict, conn: HTTPConnection, token: str | None) -> Response:
        if verdict.status == 303:
            response: Response = RedirectResponse(without_token(conn.url.path, conn.query_params.multi_items()), 303)
            set_token_cookie(response, token or "")
            return response
        wants_page = verdict.status == 401 and "text/html" in conn.headers.get("accept", "")
        if wants_page:
            return HTMLResponse(LOGIN_PAGE.format(next=html.escape(
                without_token(conn.url.path, conn.query_params.multi_items()))), status_code=401)
        return JSONResponse({"detail": verdict.message}, status_code=verdict.status)

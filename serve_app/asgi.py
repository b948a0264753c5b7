"""The web app as one ASGI application: the Panel pages and the REST API on one FastAPI app.

Built inside the Serve replica (see :mod:`serve_app.deployment`), and by tests without Ray::

    app = build_asgi_app(AppContext.create(settings))
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from serve_app.auth import TOKEN_COOKIE, TOKEN_HEADER
from serve_app.context import AppContext

# What a request carries that its session token must not: Bokeh copies the page request's cookies
# and headers into the session token it embeds in the page, where any script could read them.
PRIVATE_COOKIES = [TOKEN_COOKIE]
PRIVATE_HEADERS = ["Cookie", "Authorization", TOKEN_HEADER.title()]
COMPONENT_ROUTE = "/components/"
PAGES = {"/": "Autotuner: tasks", "/new": "Autotuner: new task", "/task": "Autotuner: task"}


def build_asgi_app(ctx: AppContext) -> Any:
    """FastAPI app with the pages ``/``, ``/new``, ``/task`` and the API under ``/api``.

    Sessions are signed with a key of this replica: a websocket opens only a session that a page
    load (which passed the gate) created; after a restart of the replica, pages reload."""
    import panel as pn
    from fastapi import FastAPI
    from fastapi.responses import FileResponse
    from panel.io.fastapi import add_applications

    from serve_app.api import add_api
    from serve_app.pages.new_task import new_task_page
    from serve_app.pages.task import task_page
    from serve_app.pages.tasks import tasks_page

    pn.extension("tabulator", notifications=False)
    # No schema pages: they would describe every route to anyone who asks.
    app = FastAPI(title="SGLang autotuner", docs_url=None, redoc_url=None, openapi_url=None)
    add_api(app, ctx)
    favicon = Path(pn.__file__).parent / "dist" / "images" / "favicon.ico"

    @app.get("/favicon.ico", include_in_schema=False)
    def icon() -> FileResponse:  # the pages link it; without it every page logs a 404
        return FileResponse(favicon)

    add_applications({"/": lambda: tasks_page(ctx), "/new": lambda: new_task_page(ctx),
                      "/task": lambda: task_page(ctx)}, app=app, title=PAGES,
                     sign_sessions=True, secret_key=secrets.token_bytes(32),
                     exclude_cookies=PRIVATE_COOKIES, exclude_headers=PRIVATE_HEADERS)
    # Panel's component route imports whatever module its URL names (an import can patch the whole
    # process, as genai-bench's gevent does). The pages load every model from /static/, none from
    # there (tests/web/test_components.py loads each page in Chromium), so it is not served at all.
    app.router.routes = [r for r in app.router.routes if not getattr(r, "path", "").startswith(COMPONENT_ROUTE)]
    return app

"""The REST API and file downloads, next to the Panel pages on the same FastAPI app.

    GET  /api/tasks                                  every task (read-only)
    GET  /api/tasks/{id}                             one task with its trials (read-only)
    GET  /api/tasks/{id}/trials/{trial}/engine.log   a trial's engine log                 token
    POST /api/tasks                                  submit a task (YAML/JSON, <= 1 MB)   token
    POST /api/tasks/{id}/stop | /resume              stop or resume its Ray job           token
    GET  /api/tasks/{id}/inferenceservice.yaml       the best config as an OME manifest   token
    GET  /api/tasks/{id}/spec.yaml                   the task as run                      token
    POST /api/session                                the pages' token form: sets the cookie

A request without the right token gets 401 before anything happens. Who may come in at all (Host,
Origin, the token when the app listens beyond localhost, websockets included) is decided by
:mod:`serve_app.gate`, installed here in front of every route.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from autotuner.results.folder import CampaignFolder
from autotuner.task.safe_yaml import MAX_BYTES as MAX_TASK_BYTES
from serve_app.actions import ActionError
from serve_app.auth import request_token
from serve_app.best import manifest_yaml
from serve_app.context import AppContext
from serve_app.gate import LOGIN_PATH, AccessGate, client_address, set_token_cookie, too_many_wrong_tokens

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_LOG_BYTES = 2_000_000  # the tail of larger logs


def _token(request: Request) -> str | None:
    return request_token(request.headers, request.cookies, request.query_params)


def trial_file(folder: Path, trial_id: str, name: str) -> Path:
    """A file of one trial's folder, refusing any id that could leave ``folder/trials``."""
    if not SAFE_ID.match(trial_id) or ".." in trial_id:
        raise HTTPException(400, "bad trial id")
    base = CampaignFolder(folder).trials_dir.resolve()
    path = (base / trial_id / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise HTTPException(404, f"no {name} for trial {trial_id}")
    return path


async def read_task_body(request: Request) -> str:
    """The uploaded task text, refused with 413 past :data:`MAX_TASK_BYTES` before it is all read."""
    too_large = HTTPException(413, f"a task file may have at most {MAX_TASK_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_TASK_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TASK_BYTES:
            raise too_large
    return body.decode(errors="replace")


def page_after_login(target: str) -> str:
    """Where the token form returns to: a path of this app, never another site (``//host``)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def add_api(app: FastAPI, ctx: AppContext) -> None:
    """Install the gate (every route and websocket) and the API routes on ``app``."""
    app.add_middleware(AccessGate, local_only=ctx.settings.open_viewing, authorized=ctx.authorized,
                       backoff=ctx.backoff)

    @app.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        """The pages' token form (a plain HTML form: the token never sits in a widget's value)."""
        form = parse_qs((await request.body()).decode(errors="replace"))
        token = (form.get("token") or [""])[0]
        target = page_after_login((form.get("next") or ["/"])[0])
        client = client_address(request.scope)
        if (wait := ctx.backoff.retry_after(client)) > 0:
            return too_many_wrong_tokens(wait)
        if not ctx.authorized(token):
            if token:
                ctx.backoff.failed(client, token)
            return RedirectResponse(target + ("&" if "?" in target else "?") + "access=refused", 303)
        ctx.backoff.succeeded(client)
        response = RedirectResponse(target, 303)
        set_token_cookie(response, token)
        return response

    def require_token(request: Request) -> None:
        if not ctx.authorized(_token(request)):
            raise HTTPException(401, "this action needs the app's access token")

    def folder_of(task_id: str) -> Path:
        row = ctx.store.find_task(task_id)
        if row is None or row.folder is None:
            raise HTTPException(404, f"no campaign folder for task {task_id!r}")
        return Path(row.folder)

    def run_action(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except ActionError as err:
            raise HTTPException(err.status, {"message": err.message,
                                             "problems": [{"path": p.path, "message": p.message, "text": str(p)}
                                                          for p in err.problems]}) from err

    @app.get("/api/tasks")
    def list_tasks() -> list[dict[str, Any]]:
        return [r.__dict__ for r in ctx.store.tasks()]

    @app.get("/api/tasks/{task_id}")
    def get_task(task_id: str) -> dict[str, Any]:
        row = ctx.store.find_task(task_id)
        if row is None:
            raise HTTPException(404, f"no task {task_id!r}")
        snap = ctx.store.campaign(task_id)
        trials = [t.to_row() for t in snap.trials.values()] if snap else []
        best = snap.best.to_json() if snap and snap.best else None
        return {**row.__dict__, "trials": trials, "best": best}

    @app.get("/api/tasks/{task_id}/trials/{trial_id}/engine.log")
    def engine_log(task_id: str, trial_id: str, request: Request) -> Response:
        require_token(request)  # logs show paths, flags and the engine's own output
        path = trial_file(folder_of(task_id), trial_id, "engine.log")
        with path.open("rb") as f:
            size = path.stat().st_size
            f.seek(max(0, size - MAX_LOG_BYTES))
            return PlainTextResponse(f.read().decode(errors="replace"))

    @app.post("/api/tasks", status_code=201)
    async def submit_task(request: Request) -> dict[str, Any]:
        require_token(request)  # before a byte of the body is read or parsed
        body = await read_task_body(request)
        done = await asyncio.to_thread(run_action, ctx.actions.submit, body)
        return {"job_id": done.job_id, "folder": str(done.folder), "name": done.name}

    @app.post("/api/tasks/{task_id}/stop")
    async def stop_task(task_id: str, request: Request) -> dict[str, Any]:
        require_token(request)
        return {"job_id": await asyncio.to_thread(run_action, ctx.actions.stop, task_id)}

    @app.post("/api/tasks/{task_id}/resume", status_code=201)
    async def resume_task(task_id: str, request: Request) -> dict[str, Any]:
        require_token(request)
        return {"job_id": await asyncio.to_thread(run_action, ctx.actions.resume, task_id)}

    @app.get("/api/tasks/{task_id}/inferenceservice.yaml")
    def manifest(task_id: str, request: Request) -> Response:
        require_token(request)
        snap = ctx.store.campaign(task_id)
        text = manifest_yaml(snap) if snap else None
        if text is None:
            raise HTTPException(404, "no best config yet")
        return PlainTextResponse(text, media_type="application/yaml", headers={
            "Content-Disposition": f'attachment; filename="{snap.meta.name or "best"}-inferenceservice.yaml"'})

    @app.get("/api/tasks/{task_id}/spec.yaml")
    def spec_yaml(task_id: str, request: Request) -> Response:
        require_token(request)
        path = CampaignFolder(folder_of(task_id)).spec_path
        if not path.is_file():
            raise HTTPException(404, f"no {path.name} yet")
        return PlainTextResponse(path.read_text(), media_type="application/yaml")

"""The tasks page: every campaign (web, CLI or ``ray job submit``; a resumed one is one row) with
its action (stop / resume), status, progress, best objective, first start and folder::

    add_applications({"/": lambda: tasks_page(ctx)}, app=fastapi_app)
"""

from __future__ import annotations

import asyncio
import html
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from serve_app.actions import ActionError
from serve_app.catalog import TaskRow
from serve_app.context import AppContext
from serve_app.pages.common import Header, message_pane, say

# The action first after the name: always in view, whatever the width of the other columns.
COLUMNS = ["task", "action", "status", "progress", "best objective", "started", "folder", "source", "ray job",
           "do", "id"]
REFRESH_MS = 1000


def _action(row: TaskRow) -> str:
    return "stop" if row.can_stop else "resume" if row.can_resume else ""


def status_text(row: TaskRow) -> str:
    """The status, with a failed or stopped job's whole message (it often names a path)."""
    text = row.status
    if row.resumes:
        text += f" (resumed {len(row.resumes)}x)"
    if row.message and row.job_status == "FAILED":
        text += f": {row.message}"
    return text


def folder_label(folder: str | None, roots: list[Path]) -> str:
    """A campaign folder as short as it can be told apart: relative to the workspace root holding
    it (``quickstart``), else the whole path with the home folder as ``~``."""
    if not folder:
        return ""
    path = Path(folder)
    for root in roots:
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def task_labels(rows: list[TaskRow]) -> list[str]:
    """Each row's name; rows that share one also say where they are (their whole folder, or
    their job when no folder is known), so that four tasks named quickstart are told apart."""
    counts = Counter(r.name for r in rows)
    return [r.name if counts[r.name] == 1 else
            f"{r.name} ({folder_label(r.folder, []) if r.folder else f'job {r.job_id or r.id}'})" for r in rows]


def tasks_frame(rows: list[TaskRow], roots: list[Path] = ()) -> pd.DataFrame:
    """The table behind the page, newest task first."""
    records = [{
        "task": f'<a href="/task?id={html.escape(r.id)}">{html.escape(label)}</a>',
        "action": f'<button class="task-{_action(r)}">{_action(r)}</button>' if _action(r) else "",
        "status": status_text(r),
        "progress": f"{r.trials_ended}/{r.budget_trials}" if r.budget_trials else "",
        "best objective": "" if r.best_score is None else f"{r.best_score:.4g}",
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started)) if r.started else "",
        "folder": folder_label(r.folder, list(roots)), "source": r.source, "ray job": r.job_id or "",
        "id": r.id, "do": _action(r),
    } for r, label in zip(rows, task_labels(rows))]
    return pd.DataFrame(records, columns=COLUMNS)


def tasks_page(ctx: AppContext) -> pn.viewable.Viewable:
    header = Header(ctx, "Tasks", page="/")
    note = message_pane()
    roots = ctx.settings.roots
    table = pn.widgets.Tabulator(
        tasks_frame(ctx.store.tasks(), roots), show_index=False, disabled=True, pagination="remote", page_size=25,
        hidden_columns=["id", "do"], sizing_mode="stretch_width", layout="fit_columns",
        # Long texts wrap rather than push the other columns out of view.
        formatters={"task": {"type": "html"}, "action": {"type": "html"}, "status": {"type": "textarea"},
                    "folder": {"type": "textarea"}, "ray job": {"type": "textarea"}},
        widths={"task": 150, "action": 90, "progress": 90, "best objective": 120, "started": 160, "source": 80},
        text_align={"progress": "right", "best objective": "right"}, css_classes=["tasks-table"])
    seen = {"version": ctx.store.tasks_version}

    async def on_click(event: Any) -> None:
        if event.column != "action":
            return
        row = table.value.iloc[event.row]
        action = row["do"]
        if not action:
            return
        if not header.authorized():
            say(note, f"401: {action} needs the access token (enter it at the top right).", "danger")
            return
        try:
            fn = ctx.actions.stop if action == "stop" else ctx.actions.resume
            job_id = await asyncio.to_thread(fn, row["id"])
            say(note, f"{action}: Ray job `{job_id}`", "success")
        except ActionError as err:
            say(note, f"{action} refused: {html.escape(err.message)}", "warning")
        except Exception as err:  # the Ray job API failed (dashboard down ...)
            say(note, f"{action} failed: {html.escape(repr(err))}", "danger")

    table.on_click(on_click)

    empty = pn.pane.Markdown("No task yet: start one on the [New task](/new) page, with `autotuner run`, "
                             "or with `ray job submit -- autotuner run TASK.yaml`.", visible=not ctx.store.tasks())

    def refresh() -> None:
        if ctx.store.tasks_version != seen["version"]:
            seen["version"] = ctx.store.tasks_version
            table.value = tasks_frame(ctx.store.tasks(), roots)
            empty.visible = not ctx.store.tasks()

    pn.state.add_periodic_callback(refresh, period=REFRESH_MS)
    return pn.Column(header.layout, note, empty, table, sizing_mode="stretch_width")

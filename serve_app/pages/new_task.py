"""The new-task page: the form, YAML upload (fills the form) and download (what the form holds),
live validation, and Submit (token needed) which starts the campaign as a Ray job::

    add_applications({"/new": lambda: new_task_page(ctx)}, app=fastapi_app)
"""

from __future__ import annotations

import asyncio
import html
import io
from typing import Any

import panel as pn
import yaml

from autotuner.spec import parse_spec_text
from serve_app.actions import ActionError
from serve_app.context import AppContext
from serve_app.form import TaskForm
from serve_app.pages.common import Header, message_pane, say


def new_task_page(ctx: AppContext) -> pn.viewable.Viewable:
    header = Header(ctx, "New task", page="/new")
    form = TaskForm()
    note = message_pane()
    upload = pn.widgets.FileInput(accept=".yaml,.yml,.json", name="Upload task YAML", width=260)
    download = pn.widgets.FileDownload(callback=lambda: io.StringIO(form.to_yaml()), filename="task.yaml",
                                       label="Download YAML", button_type="default", width=160)
    submit = pn.widgets.Button(label="Submit", button_type="primary", width=140)
    check = pn.widgets.Button(label="Validate", width=120)

    def validate(*_: Any) -> None:
        _, problems = form.validate()
        name = form.fields["name"].get()
        download.filename = f"{name}.yaml" if isinstance(name, str) and name else "task.yaml"
        if problems:
            say(note, f"{len(problems)} problem(s): see the messages next to the fields.", "warning")
        else:
            say(note, "")

    def on_upload(event: Any) -> None:
        if not event.new:
            return
        text = event.new.decode(errors="replace")
        _, raw_problems = parse_spec_text(text)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict):
            form.show([], not_in_form=raw_problems)
            say(note, f"{upload.filename}: not a task file", "danger")
            return
        form.load(data)
        _, problems = form.validate()
        shown = {str(p) for p in problems}
        form.show(problems, not_in_form=[p for p in raw_problems if str(p) not in shown])
        say(note, f"Loaded {html.escape(upload.filename or 'the file')}"
                  + (f": {len(raw_problems)} problem(s)" if raw_problems else ": no problems"),
            "warning" if raw_problems else "success")

    async def on_submit(_: Any) -> None:
        if not header.authorized():
            say(note, "401: submitting needs the access token (enter it at the top right). Nothing was started.",
                "danger")
            return
        spec, problems = form.validate()
        if spec is None:
            say(note, f"Not submitted: {len(problems)} problem(s), see the messages next to the fields.", "warning")
            return
        submit.disabled = True
        try:
            done = await asyncio.to_thread(ctx.actions.submit_spec, spec)
        except ActionError as err:
            form.show(err.problems)
            say(note, f"Not submitted: {html.escape(err.message)}", "warning")
            return
        except Exception as err:  # the Ray job API refused (cluster down ...)
            say(note, f"Not submitted: the Ray job API failed: {html.escape(repr(err))}", "danger")
            return
        finally:
            submit.disabled = False
        say(note, f'Submitted as Ray job `{done.job_id}`: <a href="/task?id={html.escape(done.job_id)}">'
                  f"open task {html.escape(done.name)}</a>", "success")

    upload.param.watch(on_upload, "value")
    submit.on_click(on_submit)
    check.on_click(validate)
    for widget in form.widgets():
        widget.param.watch(validate, "value")
    toolbar = pn.Row(upload, download, check, submit, sizing_mode="stretch_width")
    return pn.Column(header.layout, toolbar, note, form.layout, sizing_mode="stretch_width")

"""The new-task page: the form, YAML upload (fills the form) and download (what the form holds),
live validation, Plan (token needed: the twin's predictions for the task, ``autotuner plan``, no
GPU) and Submit (token needed) which starts the campaign as a Ray job::

    add_applications({"/new": lambda: new_task_page(ctx)}, app=fastapi_app)
"""

from __future__ import annotations

import asyncio
import html
import io
from typing import Any

import panel as pn
import yaml

from autotuner.task.load import parse_spec_text
from autotuner.task.spec import Problem, TaskSpec
from serve_app.actions import ActionError
from serve_app.context import AppContext
from serve_app.form import TaskForm
from serve_app.pages.common import Header, message_pane, say


# Scrolls to the input a problem names and puts the cursor in it. Panel draws every widget in its
# own shadow root, so the input is looked for through them.
REVEAL_JS = """
const selector = cb_obj.value.split("\\n")[0];
function find(root) {
  const hit = root.querySelector(selector);
  if (hit) return hit;
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) { const found = find(el.shadowRoot); if (found) return found; }
  }
  return null;
}
if (selector) {
  setTimeout(() => {  // after a collapsed card holding it has opened
    const el = find(document);
    if (!el) return;
    el.scrollIntoView({block: "center"});
    const input = (el.shadowRoot || el).querySelector("input, textarea, select");
    if (input) input.focus({preventScroll: true});
  }, 150);
}
"""


def problems_text(problems: list[Problem], what: str) -> str:
    """``Not submitted: 2 problems. budget.trials: 0 -- must be ... (the form shows it next to its
    field).``: the first problem named, the rest counted."""
    first = problems[0]
    more = f" {len(problems) - 1} more next to their fields." if len(problems) > 1 else ""
    return (f"{what}{len(problems)} problem(s). **{html.escape(first.path)}**: {html.escape(first.message)} "
            f"(shown next to the field).{more}")


def plan_text(spec: TaskSpec) -> str:
    """``autotuner plan``'s tables for ``spec`` (raises TwinUnavailable for a task the simulator cannot model)."""
    from autotuner.twin.plan import plan_task, render_plan

    return render_plan(plan_task(spec))


def new_task_page(ctx: AppContext) -> pn.viewable.Viewable:
    header = Header(ctx, "New task", page="/new")
    form = TaskForm()
    note = message_pane()
    upload = pn.widgets.FileInput(accept=".yaml,.yml,.json", name="Upload task YAML", width=260)
    download = pn.widgets.FileDownload(callback=lambda: io.StringIO(form.to_yaml()), filename="task.yaml",
                                       label="Download YAML", button_type="default", width=160)
    submit = pn.widgets.Button(label="Submit", button_type="primary", width=140)
    check = pn.widgets.Button(label="Validate", width=120)
    plan_button = pn.widgets.Button(label="Plan", width=120)
    plan_view = pn.pane.HTML("", visible=False, sizing_mode="stretch_width", css_classes=["plan-view"])

    reveal = pn.widgets.TextInput(value="", visible=False)
    reveal.jscallback(value=REVEAL_JS)
    reveals = [0]

    def show_first(problems: list[Problem]) -> None:
        """Scroll to the first problem's input (a new value each time, so the same field again too)."""
        reveals[0] += 1
        reveal.value = f"{form.reveal(problems[0])}\n{reveals[0]}"

    def validate(*_: Any, scroll: bool = False) -> list[Problem]:
        _, problems = form.validate()
        name = form.fields["name"].get()
        download.filename = f"{name}.yaml" if isinstance(name, str) and name else "task.yaml"
        if problems:
            say(note, problems_text(problems, ""), "warning")
            if scroll:
                show_first(problems)
        else:
            say(note, "The task is valid: Submit starts it.", "success")
        return problems

    def on_check(_: Any) -> None:
        validate(scroll=True)

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

    def checked_spec(refusal: str, what: str) -> TaskSpec | None:
        """The form's task for an action that needs the token; None after saying why not (``401: refusal``,
        or the first problem, revealed)."""
        if not header.authorized():
            say(note, f"401: {refusal}", "danger")
            return None
        spec, problems = form.validate()
        if spec is None:
            say(note, problems_text(problems, what), "warning")
            show_first(problems)
        return spec

    async def on_plan(_: Any) -> None:
        from autotuner.twin.predict import TwinUnavailable  # the simulator loads on the first plan only

        spec = checked_spec("planning needs the access token (enter it at the top right).", "Not planned: ")
        if spec is None:
            return
        plan_button.disabled = True
        say(note, "The twin is predicting the task's space (the simulator, no GPU) ...", "info")
        try:
            text = await asyncio.to_thread(plan_text, spec)
        except TwinUnavailable as err:
            say(note, f"Not planned: {html.escape(str(err))}", "warning")
            return
        finally:
            plan_button.disabled = False
        plan_view.object = f"<pre>{html.escape(text)}</pre>"
        plan_view.visible = True
        say(note, "Planned: the twin's predictions are below the form's buttons.", "success")

    async def on_submit(_: Any) -> None:
        spec = checked_spec("submitting needs the access token (enter it at the top right). Nothing was started.",
                            "Not submitted: ")
        if spec is None:
            return
        submit.disabled = True
        try:
            done = await asyncio.to_thread(ctx.actions.submit_spec, spec)
        except ActionError as err:
            form.show(err.problems)
            say(note, f"Not submitted: {html.escape(err.message)}", "warning")
            if err.problems:
                show_first(err.problems)
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
    plan_button.on_click(on_plan)
    check.on_click(on_check)
    for widget in form.widgets():
        widget.param.watch(validate, "value")
    toolbar = pn.Row(upload, download, check, plan_button, submit, sizing_mode="stretch_width")
    return pn.Column(header.layout, toolbar, note, plan_view, reveal, form.layout, sizing_mode="stretch_width")

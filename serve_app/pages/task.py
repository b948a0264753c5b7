"""One task, live: summary and actions, the best config (copy its launch command, download its
OME manifest), the paged trial table (redrawn within a second of each change) and the charts
(at most every two seconds while the campaign runs)::

    add_applications({"/task": lambda: task_page(ctx)}, app=fastapi_app)    # /task?id=<task id>
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any
from urllib.parse import urlencode

import panel as pn
from panel.io import hold

from autotuner.trial.objective import objective_from_spec
from autotuner.task.space import describe_config
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialStatus, TwinAccuracy
from serve_app.actions import ActionError
from serve_app.best import BestConfig, best_config
from serve_app.catalog import TaskRow
from serve_app.charts import TaskCharts
from serve_app.context import AppContext
from serve_app.live import CampaignSnapshot
from serve_app.pages.common import Header, message_pane, say, session_arg
from serve_app.views import chart_view, table_view

REFRESH_MS = 250  # how often a session looks for a new snapshot (a version check when nothing changed)
CHART_INTERVAL_S = 2.0
PAGE_SIZE = 20

COPY_JS = """
const text = src.value;
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text);
} else {  // plain http on another host: the clipboard API is not offered
  const area = document.createElement('textarea');
  area.value = text; document.body.appendChild(area); area.select();
  document.execCommand('copy'); area.remove();
}
cb_obj.label = 'Copied';
"""


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def summary_markdown(row: TaskRow, snap: CampaignSnapshot | None, dashboard_url: str) -> str:
    """The task's status line: status, progress, best so far (the same best as the best-config
    box), start and resumes, job and dashboard link, and a failed or stopped job's whole message."""
    best = best_config(snap) if snap is not None else None
    best_label = "best objective" if best is not None and best.final else "best objective so far"
    parts = [f"**status:** {html.escape(row.status)}",
             f"**trials ended:** {row.trials_ended}/{row.budget_trials or '?'}",
             f"**{best_label}:** "
             + ("-" if best is None else f"{best.score:.4g} (trial {html.escape(best.trial_id)})"),
             f"**started:** {_clock(row.started) if row.started else 'not yet'}"]
    if row.resumes:
        parts.append("**resumed:** " + ", ".join(_clock(t) for t in row.resumes))
    if snap is not None:
        running = sum(1 for t in snap.trials.values() if t.status in (TrialStatus.DEPLOYING, TrialStatus.RUNNING))
        parts.append(f"**in flight:** {running}")
    if row.job_id:
        parts.append(f'**Ray job:** <a href="{html.escape(dashboard_url)}/#/jobs/{html.escape(row.job_id)}" '
                     f'target="_blank" rel="noreferrer">{html.escape(row.job_id)}</a>')
    if row.folder:
        parts.append(f"**folder:** `{html.escape(row.folder)}`")
    text = " &nbsp; ".join(parts)
    if row.message and row.job_status in ("FAILED", "STOPPED"):
        text += f"\n\n**job message:** {html.escape(row.message)}"
    return text


def best_markdown(best: BestConfig, twin: TwinAccuracy | None = None) -> str:
    """The best-config box's text: the config and its score, the re-measured spread and where the
    numbers come from when the campaign recorded them, "simulated" said plainly, and how far the
    twin was from the measured levels before and after calibration (once the campaign ended)."""
    label = "Best config" if best.final else "Best config so far"
    lines = [f"**{label}:** trial `{best.trial_id}`, objective **{best.score:.4g}** on {best.gpus} GPU(s): "
             f"`{describe_config(best.engine_args)}`"]
    if best.spread_text():
        lines.append(f"**re-measured:** {best.spread_text()}")
    lines += [f"**engine note:** {html.escape(note)}" for note in best.engine_notes]
    if best.simulated:
        lines.append("**simulated:** these numbers come from the simulated engine, not from a GPU.")
    if best.provenance_text():
        lines.append(f"**measured with:** {html.escape(best.provenance_text())}")
    if twin is not None:
        lines.append(f"**twin:** {html.escape(twin.line())}")
    return "\n\n".join(lines)


def task_page(ctx: AppContext) -> pn.viewable.Viewable:
    task_id = session_arg("id") or ""
    header = Header(ctx, "Task", page=f"/task?{urlencode({'id': task_id})}")
    note = message_pane()
    summary = pn.pane.Markdown("Looking for the task ...", sizing_mode="stretch_width", css_classes=["task-summary"])
    host_note = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                              css_classes=["host-distortion"])
    stop = pn.widgets.Button(label="Stop", button_type="danger", width=100, disabled=True)
    resume = pn.widgets.Button(label="Resume", button_type="success", width=100, disabled=True)
    spec_link = pn.pane.HTML("", margin=(12, 10))

    best_title = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["best-title"])
    command = pn.widgets.TextAreaInput(label="launch command", value="", disabled=True, rows=3,
                                       css_classes=["best-command"], sizing_mode="stretch_width")
    copy = pn.widgets.Button(label="Copy command", width=140)
    copy.js_on_click(args={"src": command}, code=COPY_JS)
    manifest_link = pn.pane.HTML("", margin=(12, 10))
    best_card = pn.Card(best_title, command, pn.Row(copy, manifest_link), title="Best config", visible=False,
                        sizing_mode="stretch_width")

    table = pn.widgets.Tabulator(
        None, show_index=False, disabled=True, pagination="remote", page_size=PAGE_SIZE,
        formatters={"log": {"type": "html"}}, sizing_mode="stretch_width", frozen_columns=["trial"])
    charts: list[TaskCharts] = []  # made once the page has loaded and the task's spec is known
    charts_box = pn.Column(sizing_mode="stretch_width")
    seen: dict[str, Any] = {"snap": None, "row": None, "charted": None, "charted_at": 0.0, "loaded": False}

    def show(row: TaskRow | None, snap: CampaignSnapshot | None) -> None:
        if row is None:
            summary.object = f"No task {html.escape(task_id)} (yet): a just-submitted job appears within seconds."
            return
        header.set_title(f"task {row.name}")
        summary.object = summary_markdown(row, snap, ctx.settings.browser_dashboard_url)
        stop.disabled, resume.disabled = not row.can_stop, not row.can_resume
        if row.folder:
            spec_link.object = f'<a href="/api/tasks/{html.escape(row.id)}/spec.yaml" target="_blank">spec.yaml</a>'
        if snap is None or snap is seen["snap"]:
            return
        view = table_view(snap, ctx.settings.browser_dashboard_url)
        table.titles = view.level_headers
        table.value = view.table
        host_note.object, host_note.visible = view.host_note, bool(view.host_note)
        show_best(snap)

    def redraw_charts(snap: CampaignSnapshot | None) -> None:
        """Charts follow the table at most every CHART_INTERVAL_S: they move slowly and cost more.
        They are made once the page has loaded, so the table shows first."""
        if not seen["loaded"] or snap is None or snap.spec is None or snap is seen["charted"]:
            return
        if time.monotonic() - seen["charted_at"] < CHART_INTERVAL_S and snap.live:
            return
        if not charts:
            slo = snap.spec.objective.slo
            charts.append(TaskCharts(slo_ttft_ms=slo.ttft_p90_s and slo.ttft_p90_s * 1000,
                                     slo_tpot_ms=slo.tpot_p90_s and slo.tpot_p90_s * 1000,
                                     unit=objective_from_spec(snap.spec.objective).unit,
                                     level_names=table_view(snap, ctx.settings.browser_dashboard_url).level_names))
            charts[0].update(chart_view(snap))
            # Shown only once complete: a change made in the same callback that adds the figures
            # can miss the browser (their axes kept their placeholder range through Ray Serve).
            charts_box.objects = [charts[0].layout]
        else:
            charts[0].update(chart_view(snap))
        seen["charted"], seen["charted_at"] = snap, time.monotonic()

    def show_best(snap: CampaignSnapshot) -> None:
        best = best_config(snap)
        if best is None:
            return
        best_card.visible = True
        best_title.object = best_markdown(best, CampaignFolder(snap.folder).read_twin() if best.final else None)
        command.value = best.launch_command_line
        manifest_link.object = (f'<a href="/api/tasks/{html.escape(snap.task_id)}/inferenceservice.yaml">'
                                "Download OME InferenceService manifest</a>")

    def refresh() -> None:
        row = ctx.store.find_task(task_id)
        snap = ctx.store.campaign(task_id) if row else None
        if row != seen["row"] or snap is not seen["snap"]:
            with hold():  # one message to the browser: the header and the best-config box change together
                show(row, snap)
            seen["row"], seen["snap"] = row, snap
        redraw_charts(snap)

    async def act(name: str) -> None:
        if not header.authorized():
            say(note, f"401: {name} needs the access token (enter it at the top right). Nothing changed.", "danger")
            return
        row = seen["row"]
        try:
            fn = ctx.actions.stop if name == "stop" else ctx.actions.resume
            job_id = await asyncio.to_thread(fn, row.id if row else task_id)
            say(note, f"{name}: Ray job `{job_id}`", "success")
        except ActionError as err:
            say(note, f"{name} refused: {html.escape(err.message)}", "warning")
        except Exception as err:  # the Ray job API failed (dashboard down ...)
            say(note, f"{name} failed: {html.escape(repr(err))}", "danger")

    async def on_stop(_: Any) -> None:
        await act("stop")

    async def on_resume(_: Any) -> None:
        await act("resume")

    def on_load() -> None:
        seen["loaded"] = True
        redraw_charts(seen["snap"])

    stop.on_click(on_stop)
    resume.on_click(on_resume)
    refresh()
    pn.state.onload(on_load)
    pn.state.add_periodic_callback(refresh, period=REFRESH_MS)
    return pn.Column(header.layout, note, pn.Row(summary, stop, resume, spec_link, sizing_mode="stretch_width"),
                     host_note, best_card, pn.pane.Markdown("### Trials"), table, pn.pane.Markdown("### Charts"), charts_box,
                     sizing_mode="stretch_width")

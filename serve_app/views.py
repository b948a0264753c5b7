"""What the task page shows, computed from a campaign snapshot: the trial table and the data of
each chart, sized for the browser (charts downsample; the table is paged by the widget).

Computed once per snapshot and shared by every session; the table first (it must follow each
report within a second or two), the charts separately (sessions redraw them less often)::

    table_view(snapshot).table          # DataFrame, one row per trial, newest first
    charts = chart_view(snapshot)       # scatter, pareto, best_line, trial_scores, curves, importance, axes
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from autotuner.results.dashboard import actor_url
from autotuner.flavors import FLAVORS, DEFAULT_FLAVOR
from autotuner.task.space import describe_config
from autotuner.results.records import LevelRow, TrialRecord, TrialStatus, host_distorted_levels
from autotuner.trial.directive import Phase
from serve_app.best import best_config
from serve_app.history import LevelRows, TrialRows
from serve_app.importance import parameter_importance
from serve_app.live import ENDED, CampaignSnapshot

MAX_SCATTER_POINTS = 3000
MAX_PROGRESS_POINTS = 1000
CURVE_TRIALS = 10


def trial_status_text(trial: TrialRecord) -> str:
    """A trial's status in words: deploying, loading level k, stopped early at level k (why) ..."""
    status, k = trial.status, int(trial.levels_run or 0)
    if status == TrialStatus.RUNNING:
        return f"loading level {k + 1}"
    if status == TrialStatus.STOPPED_EARLY:
        return trial.reason or f"stopped early after level {k}"
    if status in (TrialStatus.FAILED, TrialStatus.REJECTED):
        return f"{status}: {trial.reason or 'no reason recorded'}"
    if status == TrialStatus.INTERRUPTED:
        return f"interrupted at level {k}" if k else "interrupted"
    if trial.phase == Phase.REMEASURE and trial.remeasured_mean is not None:
        return (f"re-measured: mean {trial.remeasured_mean:.0f} [{trial.remeasured_min:.0f}-"
                f"{trial.remeasured_max:.0f}] over {trial.remeasured_repeats} repeats")
    return str(status)


def level_labels(snapshot: CampaignSnapshot) -> list[str]:
    """One label per level, in the order each trial ran them (the load search decides the loads,
    so each cell says its load)."""
    return [f"level {k}" for k in range(1, snapshot.num_levels + 1)]


def _level_cell(row: LevelRow, with_scenario: bool) -> str:
    def ms(v: Any) -> str:
        return "-" if v is None else f"{v * 1000:.0f}"

    mark = "" if row.meets_slo else " ✗"
    if row.meets_slo is None and row.distortion:
        mark = " ⚠ host distorted, not scored"
    elif row.distortion:
        mark += " ⚠ host distorted"
    elif row.distorted_runs:
        mark += f" ↻{row.distorted_runs}"  # runs the host distorted before this one
    tok = row.output_tok_s_per_gpu or 0
    load = f"{row.scenario} c={row.concurrency}" if with_scenario else f"c={row.concurrency}"
    return f"{load}: {tok:.0f} | {ms(row.ttft_p90_s)} | {ms(row.tpot_p90_s)}{mark}"


def trial_links(task_id: str, trial: TrialRecord, dashboard: str) -> str:
    """Where to read more about a trial: its engine log (token needed) and its Ray actor's page in
    the dashboard (state and the trainable's logs)."""
    tid = html.escape(trial.trial_id)
    links = [f'<a href="api/tasks/{html.escape(task_id)}/trials/{tid}/engine.log" target="_blank">engine.log</a>']
    if dashboard and trial.actor_id:
        links.append(f'<a href="{html.escape(actor_url(dashboard, trial.actor_id))}" target="_blank" '
                     'rel="noreferrer" class="actor-link">Ray actor</a>')
    return " · ".join(links)


def table_row(task_id: str, trial: TrialRecord, levels: list[LevelRow], labels: list[str],
              dashboard: str = "", flavor: str = DEFAULT_FLAVOR) -> dict[str, Any]:
    """A trial's row of the table: status, slots, score, config, each level's metrics, links.
    ``flavor``: the task's engine, which says how many GPUs a config takes before the trial does."""
    config = trial.config
    scored = trial.score is not None
    row = {"trial": trial.trial_id, "status": trial_status_text(trial),
           "slots": trial.gpus or FLAVORS.get(flavor).gpus_needed(config), "score": _round(trial.score),
           "feasible": ("yes" if trial.feasible else "no") if scored else "",
           "config": describe_config(config), "started": _clock(trial.started)}
    many = len({lv.scenario for lv in levels}) > 1
    for lv in levels:
        k = int(lv.level)
        if 1 <= k <= len(labels):
            row[labels[k - 1]] = _level_cell(lv, many)
    row["log"] = trial_links(task_id, trial, dashboard)
    row["_started"] = trial.started or 0.0
    return row


def trial_table(snapshot: CampaignSnapshot, dashboard: str = "") -> pd.DataFrame:
    """One row per trial, newest first. Rows of trials that did not change since the campaign's
    previous snapshot are reused (a live campaign changes a few trials per update)."""
    labels = level_labels(snapshot)
    cache = snapshot.row_cache
    rows = []
    for tid, trial in snapshot.trials.items():
        levels = snapshot.levels.get(tid, [])
        hit = cache.get(tid)
        if hit is None or hit[0] != trial or hit[1] != levels or hit[2] != snapshot.task_id:
            flavor = snapshot.spec.engine.flavor if snapshot.spec is not None else DEFAULT_FLAVOR
            row = table_row(snapshot.task_id, trial, levels, labels, dashboard, flavor)
            hit = cache[tid] = (trial, levels, snapshot.task_id, row)
        rows.append(hit[3])
    columns = ["trial", "status", "slots", "score", "feasible", "config", *labels, "started", "log"]
    frame = pd.DataFrame(rows, columns=[*columns, "_started"])
    frame = frame.sort_values("_started", ascending=False, kind="stable").drop(columns="_started")
    frame[labels] = frame[labels].astype(object).fillna("")  # levels not reached yet: empty cells
    return frame.reset_index(drop=True)


def level_label_header(labels: list[str]) -> dict[str, str]:
    """Column titles that say what a level cell holds."""
    return {label: f"{label}: load: tok/s/GPU | TTFT90 ms | TPOT90 ms" for label in labels}


@dataclass(frozen=True)
class Points:
    """Columns of a chart's data source."""

    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))


def downsample(rows: list[Any], limit: int, keep: set[int] = frozenset()) -> list[Any]:
    """At most ``limit`` rows, evenly spread, always keeping the indices in ``keep``."""
    if len(rows) <= limit:
        return rows
    step = len(rows) / max(limit - len(keep), 1)
    chosen = {int(i * step) for i in range(max(limit - len(keep), 1))} | set(keep)
    return [rows[i] for i in sorted(chosen) if i < len(rows)]


def scatter_points(levels: LevelRows) -> tuple[Points, Points]:
    """Every level as (p90 TTFT ms, p90 TPOT ms, tok/s/GPU, meets SLO), downsampled, and the
    Pareto front of the levels that meet the SLOs (more throughput for less TTFT)."""
    rows = [lv for lvs in levels.values() for lv in lvs
            if lv.ttft_p90_s is not None and lv.output_tok_s_per_gpu is not None]
    front = pareto_front(rows)
    front_ids = {id(r) for r in front}
    shown = downsample(rows, MAX_SCATTER_POINTS, keep={i for i, r in enumerate(rows) if id(r) in front_ids})
    scatter = Points({
        "ttft_ms": [r.ttft_p90_s * 1000 for r in shown],
        "tpot_ms": [(r.tpot_p90_s or 0) * 1000 for r in shown],
        "tok_s_gpu": [r.output_tok_s_per_gpu for r in shown],
        "trial": [r.trial_id for r in shown],
        "concurrency": [r.concurrency for r in shown],
        "color": ["#2ca02c" if r.meets_slo else "#d62728" for r in shown],
    })
    pareto = Points({"ttft_ms": [r.ttft_p90_s * 1000 for r in front],
                     "tok_s_gpu": [r.output_tok_s_per_gpu for r in front]})
    return scatter, pareto


def pareto_front(rows: Iterable[LevelRow]) -> list[LevelRow]:
    """Levels meeting the SLOs that no other such level beats on both TTFT and throughput."""
    front, best = [], -math.inf
    met = (r for r in rows if r.meets_slo)
    for r in sorted(met, key=lambda r: (r.ttft_p90_s, -r.output_tok_s_per_gpu)):
        if r.output_tok_s_per_gpu > best:
            front.append(r)
            best = r.output_tok_s_per_gpu
    return front


def best_over_time(trials: TrialRows, started: float | None) -> tuple[Points, Points]:
    """The best score so far against minutes since the campaign started (a step line), picked by
    the campaign's own rule as each trial ended (:func:`autotuner.results.folder.pick_best`: complete
    trials first), and each ended feasible trial's score (downsampled). Minutes count from the
    campaign's first start, or its earliest trial if that is earlier: never negative."""
    ended = sorted((t for t in trials.values() if t.ended and t.score is not None
                    and t.status in (TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED)),
                   key=lambda t: t.ended)
    earliest = min((t.started or t.ended for t in ended), default=None)
    t0 = min(x for x in (started, earliest, time.time()) if x is not None)
    xs, ys = [], []
    best_done: float | None = None
    best_any: float | None = None
    for t in ended:
        if not t.feasible:
            continue
        if t.status == TrialStatus.DONE:
            best_done = t.score if best_done is None else max(best_done, t.score)
        best_any = t.score if best_any is None else max(best_any, t.score)
        best = best_done if best_done is not None else best_any
        if not ys or best != ys[-1]:
            xs.append((t.ended - t0) / 60)
            ys.append(best)
    if xs and ended:
        xs.append((ended[-1].ended - t0) / 60)
        ys.append(ys[-1])
    feasible = [t for t in ended if t.feasible]
    top = max(range(len(feasible)), key=lambda i: feasible[i].score, default=None)
    feasible = downsample(feasible, MAX_PROGRESS_POINTS, keep=set() if top is None else {top})
    return (Points({"minutes": xs, "best": ys}),
            Points({"minutes": [(t.ended - t0) / 60 for t in feasible], "score": [t.score for t in feasible],
                    "trial": [t.trial_id for t in feasible]}))


@dataclass(frozen=True)
class AxisLimit:
    """Where a latency axis ends (from 0): past every point (and the SLO line when it is near
    them), or, when a few outliers would squash the rest, at twice the 90th percentile with the
    outliers counted."""

    end: float
    beyond: int = 0  # points past ``end`` (0: the axis shows every point)
    largest: float = 0.0

    def note(self, what: str) -> str:
        if not self.beyond:
            return ""
        return (f"{self.beyond} level(s) with p90 {what} above {self.end:,.0f} ms are off the chart "
                f"(largest {self.largest:,.0f} ms): zoom out to see them.")


def axis_limit(values: list[float], slo: float | None) -> AxisLimit:
    """The end of a latency axis; clipped at twice the 90th percentile (never below 1.5x the SLO)
    when some values lie beyond that. An SLO line far past every point (3x) is left out of view
    rather than squash the points against the axis."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    largest = finite[-1] if finite else 0.0
    near_slo = slo if slo and (not finite or slo <= 3 * largest) else 0.0
    fit = max(largest, near_slo, 1.0) * 1.05
    if len(finite) < 5:
        return AxisLimit(fit)
    clip = max(finite[int(0.9 * (len(finite) - 1))] * 2, (slo or 0) * 1.5)
    beyond = [v for v in finite if v > clip]
    return AxisLimit(clip, len(beyond), finite[-1]) if beyond else AxisLimit(fit)


def trial_curves(snapshot: CampaignSnapshot, best_trial: str | None) -> Points:
    """tok/s/GPU over the load levels of the best ``CURVE_TRIALS`` trials (the best one first)."""
    measured = (t for tid, t in snapshot.trials.items() if t.score is not None and snapshot.levels.get(tid))
    scored = sorted(measured, key=lambda t: (t.trial_id != best_trial, -(t.score or 0)))[:CURVE_TRIALS]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    xs, ys, names, colors, widths = [], [], [], [], []
    for i, t in enumerate(scored):
        lvs = snapshot.levels[t.trial_id]
        xs.append([lv.level for lv in lvs])
        ys.append([lv.output_tok_s_per_gpu or 0 for lv in lvs])
        names.append(t.trial_id)
        colors.append("gold" if t.trial_id == best_trial else palette[i % len(palette)])
        widths.append(4 if t.trial_id == best_trial else 1.5)
    return Points({"xs": xs, "ys": ys, "trial": names, "color": colors, "width": widths})


def importance_points(snapshot: CampaignSnapshot) -> Points:
    """Parameter importance over the campaign's ended trials (see :mod:`serve_app.importance`),
    recomputed only when a trial ends (kept with the campaign's table rows between snapshots)."""
    ended = [t for t in snapshot.trials.values() if t.status in ENDED and t.score is not None]
    key = tuple(sorted((t.trial_id, t.score) for t in ended))
    cached = snapshot.row_cache.get("importance")
    if cached is None or cached[0] != key:
        cached = snapshot.row_cache["importance"] = (key, parameter_importance(snapshot.spec, ended))
    ranked = cached[1]
    return Points({"param": [p for p, _ in ranked], "importance": [round(v, 3) for _, v in ranked]})


@dataclass(frozen=True)
class TableView:
    """The trial table of one snapshot."""

    table: pd.DataFrame
    level_headers: dict[str, str]
    level_names: list[str]
    host_note: str = ""  # which levels the host distorted and what was done ('' when none)


@dataclass(frozen=True)
class ChartView:
    """The data of every chart of one snapshot."""

    scatter: Points
    pareto: Points
    best_line: Points
    trial_scores: Points
    curves: Points
    importance: Points
    ttft_axis: AxisLimit
    tpot_axis: AxisLimit


def table_view(snapshot: CampaignSnapshot, dashboard: str = "") -> TableView:
    """The table of a snapshot, computed once and shared by every session showing it; trial rows
    link to their actors in the dashboard at ``dashboard`` (the app's one setting)."""
    view = snapshot.memo.get("table")
    if view is None:
        labels = level_labels(snapshot)
        view = snapshot.memo["table"] = TableView(trial_table(snapshot, dashboard), level_label_header(labels),
                                                  labels, host_distortion_note(snapshot))
    return view


def host_distortion_note(snapshot: CampaignSnapshot, shown: int = 5) -> str:
    """The task page's note on the levels the host distorted (autotuner/trial/host_distortion.py):
    how many, how many were refused, and the first ``shown`` of them; '' when there are none."""
    distorted = host_distorted_levels(lv for levels in snapshot.levels.values() for lv in levels)
    if not distorted:
        return ""
    refused = sum(1 for d in distorted if d.distortion)
    items = [f"trial `{html.escape(d.trial_id)}` level {d.level} ({html.escape(d.scenario)} "
             f"c={d.concurrency}): {d.distorted_runs} distorted run(s), {html.escape(d.done)}"
             + (f" ({html.escape(d.distortion)})" if d.distortion else "") for d in distorted[:shown]]
    more = [f"and {len(distorted) - shown} more (levels.parquet, columns `distortion`, `distorted_runs`)"] if len(distorted) > shown else []
    return (f"**The host distorted {len(distorted)} level(s)** (the machine held the server or genai-bench back "
            f"beyond the tolerance): {len(distorted) - refused} ran again until undistorted (↻ in the table), "
            f"{refused} stayed distorted: refused, not scored, or scored and marked (⚠).\n\n" + "\n".join(f"* {i}" for i in items + more))


def chart_view(snapshot: CampaignSnapshot) -> ChartView:
    """The charts' data of a snapshot, computed once and shared by every session showing it."""
    view = snapshot.memo.get("charts")
    if view is None:
        scatter, pareto = scatter_points(snapshot.levels)
        best_line, trial_scores = best_over_time(snapshot.trials, snapshot.meta.started)
        best = best_config(snapshot)
        slo = snapshot.spec.objective.slo if snapshot.spec else None
        view = snapshot.memo["charts"] = ChartView(
            scatter=scatter, pareto=pareto, best_line=best_line, trial_scores=trial_scores,
            curves=trial_curves(snapshot, best.trial_id if best else None), importance=importance_points(snapshot),
            ttft_axis=axis_limit(scatter.columns["ttft_ms"], slo and slo.ttft_p90_s and slo.ttft_p90_s * 1000),
            tpot_axis=axis_limit(scatter.columns["tpot_ms"], slo and slo.tpot_p90_s and slo.tpot_p90_s * 1000))
    return view


def _round(v: Any) -> float | None:
    return None if v is None else round(float(v), 2)


def _clock(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else ""


__all__ = ["AxisLimit", "ChartView", "TableView", "axis_limit", "chart_view", "downsample", "pareto_front",
           "table_view", "trial_status_text", "trial_table"]

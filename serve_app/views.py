"""What the task page shows, computed from a campaign snapshot: the trial table and the data of
each chart, sized for the browser (charts downsample; the table is paged by the widget).

Computed once per snapshot and shared by every session; the table first (it must follow each
report within a second or two), the charts separately (sessions redraw them less often)::

    table_view(snapshot).table          # DataFrame, one row per trial, newest first
    charts = chart_view(snapshot)       # scatter, pareto, best_line, trial_scores, curves, importance
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from autotuner.engines.sglang_args import gpus_needed
from autotuner.progress import describe_config
from autotuner.results import DONE, FAILED, INTERRUPTED, PENDING, REJECTED, RUNNING, STOPPED_EARLY
from serve_app.history import LevelRows, TrialRows
from serve_app.live import CampaignSnapshot

MAX_SCATTER_POINTS = 3000
MAX_PROGRESS_POINTS = 1000
CURVE_TRIALS = 10
MIN_TRIALS_FOR_IMPORTANCE = 8
IMPORTANCE_BINS = 4


def trial_status_text(row: dict[str, Any], num_levels: int) -> str:
    """A trial's status in words: deploying, loading level k/n, stopped by ASHA at level k ..."""
    status, k = row.get("status"), int(row.get("levels_run") or 0)
    if status == RUNNING:
        return f"loading level {min(k + 1, num_levels)}/{num_levels}"
    if status == STOPPED_EARLY:
        return f"stopped by ASHA at level {k}/{num_levels}"
    if status in (FAILED, REJECTED):
        return f"{status}: {row.get('reason') or 'no reason recorded'}"
    if status == INTERRUPTED:
        return f"interrupted at level {k}/{num_levels}" if k else "interrupted"
    return str(status or PENDING)


def level_labels(snapshot: CampaignSnapshot) -> list[str]:
    """One short label per load level, in sweep order: ``c=8`` (or ``D(128,32) c=8``)."""
    if snapshot.spec is None:
        return [f"level {k}" for k in range(1, snapshot.num_levels + 1)]
    many = len(snapshot.spec.workload.scenarios) > 1
    return [f"{s} c={c}" if many else f"c={c}" for s, c in snapshot.spec.levels]


def _level_cell(row: dict[str, Any]) -> str:
    def ms(v: Any) -> str:
        return "-" if v is None else f"{v * 1000:.0f}"

    mark = "" if row.get("meets_slo") else " ✗"
    tok = row.get("output_tok_s_per_gpu") or 0
    return f"{tok:.0f} | {ms(row.get('ttft_p90_s'))} | {ms(row.get('tpot_p90_s'))}{mark}"


def table_row(task_id: str, trial: dict[str, Any], levels: list[dict[str, Any]], labels: list[str],
              num_levels: int) -> dict[str, Any]:
    """A trial's row of the table: status, slots, score, config, each level's metrics, log link."""
    tid = trial["trial_id"]
    config = json.loads(trial.get("config_json") or "{}")
    scored = trial.get("score") is not None
    row = {"trial": tid, "status": trial_status_text(trial, num_levels),
           "slots": trial.get("gpus") or gpus_needed(config), "score": _round(trial.get("score")),
           "feasible": ("yes" if trial.get("feasible") else "no") if scored else "",
           "config": describe_config(config), "started": _clock(trial.get("started"))}
    for lv in levels:
        k = int(lv["level"])
        if 1 <= k <= len(labels):
            row[labels[k - 1]] = _level_cell(lv)
    row["log"] = f'<a href="api/tasks/{task_id}/trials/{tid}/engine.log" target="_blank">engine.log</a>'
    row["_started"] = trial.get("started") or 0.0
    return row


def trial_table(snapshot: CampaignSnapshot) -> pd.DataFrame:
    """One row per trial, newest first. Rows of trials that did not change since the campaign's
    previous snapshot are reused (a live campaign changes a few trials per update)."""
    labels = level_labels(snapshot)
    n = snapshot.num_levels
    cache = snapshot.row_cache
    rows = []
    for tid, trial in snapshot.trials.items():
        levels = snapshot.levels.get(tid, [])
        hit = cache.get(tid)
        if hit is None or hit[0] != trial or hit[1] != levels or hit[2] != snapshot.task_id:
            hit = cache[tid] = (trial, levels, snapshot.task_id, table_row(snapshot.task_id, trial, levels, labels, n))
        rows.append(hit[3])
    columns = ["trial", "status", "slots", "score", "feasible", "config", *labels, "started", "log"]
    frame = pd.DataFrame(rows, columns=[*columns, "_started"])
    frame = frame.sort_values("_started", ascending=False, kind="stable").drop(columns="_started")
    frame[labels] = frame[labels].astype(object).fillna("")  # levels not reached yet: empty cells
    return frame.reset_index(drop=True)


def level_label_header(labels: list[str]) -> dict[str, str]:
    """Column titles that say what a level cell holds."""
    return {label: f"{label}: tok/s/GPU | TTFT90 ms | TPOT90 ms" for label in labels}


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
            if lv.get("ttft_p90_s") is not None and lv.get("output_tok_s_per_gpu") is not None]
    front = pareto_front(rows)
    front_ids = {id(r) for r in front}
    shown = downsample(rows, MAX_SCATTER_POINTS, keep={i for i, r in enumerate(rows) if id(r) in front_ids})
    scatter = Points({
        "ttft_ms": [r["ttft_p90_s"] * 1000 for r in shown],
        "tpot_ms": [(r.get("tpot_p90_s") or 0) * 1000 for r in shown],
        "tok_s_gpu": [r["output_tok_s_per_gpu"] for r in shown],
        "trial": [r["trial_id"] for r in shown],
        "concurrency": [r["concurrency"] for r in shown],
        "color": ["#2ca02c" if r.get("meets_slo") else "#d62728" for r in shown],
    })
    pareto = Points({"ttft_ms": [r["ttft_p90_s"] * 1000 for r in front],
                     "tok_s_gpu": [r["output_tok_s_per_gpu"] for r in front]})
    return scatter, pareto


def pareto_front(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Levels meeting the SLOs that no other such level beats on both TTFT and throughput."""
    front, best = [], -math.inf
    met = (r for r in rows if r.get("meets_slo"))
    for r in sorted(met, key=lambda r: (r["ttft_p90_s"], -r["output_tok_s_per_gpu"])):
        if r["output_tok_s_per_gpu"] > best:
            front.append(r)
            best = r["output_tok_s_per_gpu"]
    return front


def best_over_time(trials: TrialRows, started: float | None) -> tuple[Points, Points]:
    """The best feasible score so far against minutes since the start (a step line), and each
    ended trial's score (downsampled)."""
    ended = sorted((t for t in trials.values() if t.get("ended") and t.get("score") is not None
                    and t.get("status") in (DONE, STOPPED_EARLY, FAILED)), key=lambda t: t["ended"])
    t0 = started or (ended[0]["ended"] if ended else time.time())
    xs, ys, best = [], [], None
    for t in ended:
        if t.get("feasible") and (best is None or t["score"] > best):
            best = t["score"]
            xs.append((t["ended"] - t0) / 60)
            ys.append(best)
    if xs and ended:
        xs.append((ended[-1]["ended"] - t0) / 60)
        ys.append(ys[-1])
    feasible = [t for t in ended if t.get("feasible")]
    top = max(range(len(feasible)), key=lambda i: feasible[i]["score"], default=None)
    feasible = downsample(feasible, MAX_PROGRESS_POINTS, keep=set() if top is None else {top})
    return (Points({"minutes": xs, "best": ys}),
            Points({"minutes": [(t["ended"] - t0) / 60 for t in feasible], "score": [t["score"] for t in feasible],
                    "trial": [t["trial_id"] for t in feasible]}))


def trial_curves(snapshot: CampaignSnapshot, best_trial: str | None) -> Points:
    """tok/s/GPU over the load levels of the best ``CURVE_TRIALS`` trials (the best one first)."""
    measured = (t for tid, t in snapshot.trials.items() if t.get("score") is not None and snapshot.levels.get(tid))
    scored = sorted(measured, key=lambda t: (t["trial_id"] != best_trial, -(t["score"] or 0)))[:CURVE_TRIALS]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    xs, ys, names, colors, widths = [], [], [], [], []
    for i, t in enumerate(scored):
        lvs = snapshot.levels[t["trial_id"]]
        xs.append([lv["level"] for lv in lvs])
        ys.append([lv.get("output_tok_s_per_gpu") or 0 for lv in lvs])
        names.append(t["trial_id"])
        colors.append("gold" if t["trial_id"] == best_trial else palette[i % len(palette)])
        widths.append(4 if t["trial_id"] == best_trial else 1.5)
    return Points({"xs": xs, "ys": ys, "trial": names, "color": colors, "width": widths})


def parameter_importance(trials: TrialRows) -> Points:
    """How much of the score's variance each parameter explains (correlation ratio, eta squared:
    between-group variance over total variance, numbers grouped into quantile bins). Only trials
    that ran at least one level count; empty below ``MIN_TRIALS_FOR_IMPORTANCE`` of them."""
    measured = [t for t in trials.values() if t.get("score") is not None and (t.get("levels_run") or 0) > 0]
    if len(measured) < MIN_TRIALS_FOR_IMPORTANCE:
        return Points({"param": [], "importance": []})
    frame = pd.DataFrame([{**json.loads(t.get("config_json") or "{}"), "_score": t["score"]} for t in measured])
    total = frame["_score"].var(ddof=0)
    out = []
    for param in (c for c in frame.columns if c != "_score"):
        values = frame[param]
        if values.nunique(dropna=True) < 2 or not total:
            continue
        groups = values.astype(str)
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
                and values.nunique() > IMPORTANCE_BINS:
            groups = pd.qcut(values, IMPORTANCE_BINS, duplicates="drop").astype(str)
        means = frame.groupby(groups.fillna("unset"))["_score"].agg(["mean", "size"])
        between = float(((means["mean"] - frame["_score"].mean()) ** 2 * means["size"]).sum() / len(frame))
        out.append((param, between / total))
    out.sort(key=lambda p: p[1])
    return Points({"param": [p for p, _ in out], "importance": [round(float(v), 3) for _, v in out]})


@dataclass(frozen=True)
class TableView:
    """The trial table of one snapshot."""

    table: pd.DataFrame
    level_headers: dict[str, str]
    level_names: list[str]


@dataclass(frozen=True)
class ChartView:
    """The data of every chart of one snapshot."""

    scatter: Points
    pareto: Points
    best_line: Points
    trial_scores: Points
    curves: Points
    importance: Points


def table_view(snapshot: CampaignSnapshot) -> TableView:
    """The table of a snapshot, computed once and shared by every session showing it."""
    view = snapshot.memo.get("table")
    if view is None:
        labels = level_labels(snapshot)
        view = snapshot.memo["table"] = TableView(trial_table(snapshot), level_label_header(labels), labels)
    return view


def chart_view(snapshot: CampaignSnapshot) -> ChartView:
    """The charts' data of a snapshot, computed once and shared by every session showing it."""
    view = snapshot.memo.get("charts")
    if view is None:
        scatter, pareto = scatter_points(snapshot.levels)
        best_line, trial_scores = best_over_time(snapshot.trials, snapshot.meta.get("started"))
        feasible = [t for t in snapshot.trials.values() if t.get("feasible") and t.get("score") is not None]
        best_trial = max(feasible, key=lambda t: t["score"])["trial_id"] if feasible else None
        view = snapshot.memo["charts"] = ChartView(
            scatter=scatter, pareto=pareto, best_line=best_line, trial_scores=trial_scores,
            curves=trial_curves(snapshot, best_trial), importance=parameter_importance(snapshot.trials))
    return view


def _round(v: Any) -> float | None:
    return None if v is None else round(float(v), 2)


def _clock(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else ""


__all__ = ["ChartView", "TableView", "chart_view", "downsample", "pareto_front", "parameter_importance",
           "table_view", "trial_status_text", "trial_table"]

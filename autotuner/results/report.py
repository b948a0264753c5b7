"""Render a campaign folder as text tables and a chart (PNG).

    autotuner report runs/quickstart          # prints the tables, writes runs/quickstart/report.png

The text lists the levels the host distorted and what was done about them. The chart has
throughput per GPU against p90 TTFT for every level of every trial (grey: refused, host distorted),
with the TTFT SLO as a line and the answer marked; the best score found against trials run; and the
re-measurement: each candidate's search score (one measurement) beside its repeats and their mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotuner.task.space import describe_config
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import LevelRow, TrialRecord, TrialStatus, host_distorted_levels
from autotuner.trial.directive import Phase


def trials_table(trials: list[TrialRecord], limit: int | None = None) -> str:
    """Search trials sorted by score (best first) as a fixed-width table."""
    rows = sorted((t for t in trials if t.phase == Phase.SEARCH), key=lambda t: (not t.feasible, -(t.score or 0)))
    lines = [f"{'trial':<14} {'status':<14} {'gpus':>4} {'lvls':>4} {'score':>13}  {'boundary':<10} config / reason"]
    for t in rows[:limit]:
        score = "-" if t.score is None else (f"{t.score:.4g}" if t.feasible else unscored(t))
        boundary = ",".join(f"c={load}" for load in t.boundary.values()) or "-"
        extra = describe_config(t.config) + (f"  [{t.reason}]" if t.reason else "")
        lines.append(f"{t.trial_id:<14} {t.status:<14} {t.gpus:>4} {t.levels_run:>4} {score:>13}  {boundary:<10} {extra}")
    return "\n".join(lines)


def unscored(trial: TrialRecord) -> str:
    """The score column of a trial that met the SLOs at no level: a stopped trial may have met them
    higher up, so it is not called infeasible."""
    return "stopped early" if trial.status == TrialStatus.STOPPED_EARLY else "infeasible"


def remeasure_table(trials: list[TrialRecord]) -> str:
    """The re-measured configs: search score (one measurement) against the repeats."""
    by_id = {t.trial_id: t for t in trials}
    rows = sorted((t for t in trials if t.phase == Phase.REMEASURE), key=lambda t: -(t.remeasured_mean or 0))
    lines = [f"{'trial':<14} {'of':<14} {'search':>8} {'mean':>8} {'min-max':>15} {'met SLOs':>9}  config"]
    for t in rows:
        search = by_id.get(t.remeasure_of or "")
        spread = (f"{t.remeasured_min:.4g}-{t.remeasured_max:.4g}" if t.remeasured_mean is not None else "-")
        mean = "-" if t.remeasured_mean is None else f"{t.remeasured_mean:.4g}"
        searched = "-" if search is None or search.score is None else f"{search.score:.4g}"
        passed = f"{t.remeasured_passed or 0}/{t.remeasured_repeats or 0}"
        lines.append(f"{t.trial_id:<14} {t.remeasure_of or '-':<14} {searched:>8} {mean:>8} {spread:>15} "
                     f"{passed:>9}  {describe_config(t.config)}")
    return "\n".join(lines)


def summary_text(folder: Path) -> str:
    """The campaign's status, its trials, the re-measurement and the answer with its provenance."""
    meta, trials, levels = CampaignFolder(folder).load()
    counts: dict[str, int] = {}
    for t in trials:
        if t.phase == Phase.SEARCH:
            counts[t.status] = counts.get(t.status, 0) + 1
    searched = sum(counts.values())
    out = [f"campaign {meta.name or folder.name} ({meta.status or 'unknown'}): {searched} search trials, "
           + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), "", trials_table(trials)]
    if any(t.phase == Phase.REMEASURE for t in trials):
        out += ["", "re-measured at their SLO boundary load:", remeasure_table(trials)]
    distorted = host_distorted_levels(levels)
    if distorted:
        refused = sum(1 for d in distorted if d.distortion)
        out += ["", f"the host distorted {len(distorted)} level(s) (autotuner/bench/host_lag.py); {refused} stayed distorted:"]
        out += [f"  trial {d.trial_id} level {d.level} {d.scenario} c={d.concurrency}: "
                f"{d.distorted_runs} distorted run(s), {d.done}" + (f" ({d.distortion})" if d.distortion else "")
                for d in distorted]
    best = CampaignFolder(folder).read_best()
    if best is not None:
        spread = best.remeasured
        value = (f"{best.score:.4g} {best.score_unit} (mean of {spread.repeats} repeats, "
                 f"{spread.min:.4g}-{spread.max:.4g}, {spread.passed} met the SLOs on their own; "
                 f"the search measured {best.search_score:.4g})"
                 if spread else f"{best.score:.4g} {best.score_unit} ({best.answer_note})")
        out += ["", f"answer: trial {best.trial_id} on {best.gpus} GPU(s): {value}",
                f"  {describe_config(best.engine_args)}", f"  launch: {best.launch_command_line}"]
        out += [f"  engine note: {note}" for note in best.engine_notes]
        traffic = best.provenance.get("traffic")
        if traffic:
            out.append(f"  traffic: {traffic}")
        engine = best.provenance.get("engine") or {}
        if engine.get("simulated"):
            out.append(f"  simulated: these numbers come from the simulator {engine.get('version')}, not from "
                       f"{engine.get('flavor', 'the engine')} {engine.get('flavor_version', '')}".rstrip())
        own = [d for d in best.host_distorted if d.trial_id == best.trial_id and d.distortion]
        if best.host_distorted:
            out.append(f"  warning: the host distorted {len(best.host_distorted)} level(s) of this campaign"
                       + (f", {len(own)} of the answer's own" if own else "")
                       + ": its numbers may say more about this machine's CPU than about the engine (listed above)")
    else:
        out += ["", "no feasible config found"]
    twin = CampaignFolder(folder).read_twin()
    if twin is not None:
        out += ["", twin.line()]
    return "\n".join(out)


def render_chart(folder: Path, out: Path | None = None) -> Path:
    """Write the campaign chart (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    campaign = CampaignFolder(folder)
    meta, trials, levels = campaign.load()
    ttft_slo = _ttft_slo(campaign)
    answer = campaign.read_best()
    best = next((t for t in trials if answer and t.trial_id == answer.trial_id), None)
    out = out or campaign.report_path
    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(18, 5.2), gridspec_kw={"width_ratios": [1.3, 1, 1]})

    by_trial: dict[str, list[LevelRow]] = {}
    for r in levels:
        by_trial.setdefault(r.trial_id, []).append(r)
    for tid, rows in by_trial.items():
        rows.sort(key=lambda r: r.level)
        xs = [(r.ttft_p90_s or 0) * 1000 for r in rows]
        ys = [r.output_tok_s_per_gpu or 0 for r in rows]
        ax.plot(xs, ys, "-", color="0.8", lw=0.8, zorder=1)
        colors = [_level_color(r) for r in rows]
        ax.scatter(xs, ys, c=colors, s=18, zorder=2)
    if ttft_slo:
        ax.axvline(ttft_slo * 1000, color="tab:red", ls="--", lw=1, label="p90 TTFT SLO")
    if best is not None and best.best_level:
        rows = [r for r in by_trial.get(best.trial_id, []) if r.level == best.best_level]
        if rows:
            r = rows[0]
            ax.scatter([(r.ttft_p90_s or 0) * 1000], [r.output_tok_s_per_gpu], marker="*", s=260,
                       c="gold", edgecolors="black", zorder=3, label=f"best: {best.trial_id} c={r.concurrency}")
    ax.scatter([], [], c="tab:green", s=18, label="level meets SLOs")
    ax.scatter([], [], c="tab:red", s=18, label="level misses SLOs")
    if any(r.meets_slo is None for r in levels):
        ax.scatter([], [], c="tab:gray", s=18, label="host distorted: not scored")
    ax.set_xlabel("p90 TTFT (ms)")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_title("Every level of every trial")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)

    ordered = sorted((t for t in trials if t.started and t.phase == Phase.SEARCH), key=lambda t: t.started or 0)
    best_so_far, xs, ys = None, [], []
    for i, t in enumerate(ordered, 1):
        if t.feasible and t.score is not None and (best_so_far is None or t.score > best_so_far):
            best_so_far = t.score
        xs.append(i)
        ys.append(best_so_far if best_so_far is not None else float("nan"))
    ax2.step(xs, ys, where="post", color="tab:blue")
    ax2.scatter(range(1, len(ordered) + 1), [t.score if t.feasible else float("nan") for t in ordered],
                s=14, color="tab:blue", alpha=0.5, label="feasible trial score")
    ax2.set_xlabel("trials started")
    ax2.set_ylabel("best score so far")
    ax2.set_title(f"Search progress ({meta.objective or 'goodput_per_gpu'})")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="lower right", fontsize=8)
    _remeasure_panel(ax3, trials, levels)
    engine = (answer.provenance.get("engine") if answer else None) or {}
    simulated = (f" (simulated: simulator {engine.get('version')}, not {engine.get('flavor', 'sglang')} "
                 f"{engine.get('flavor_version', '')})" if engine.get("simulated") else "")
    fig.suptitle(f"campaign {meta.name or folder.name}{simulated}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _level_color(row: LevelRow) -> str:
    if row.meets_slo is None:
        return "tab:gray"  # refused: neither a pass nor a fail
    return "tab:green" if row.meets_slo else "tab:red"


def _remeasure_panel(ax: Any, trials: list[TrialRecord], rows: list[LevelRow]) -> None:
    """Each re-measured config: its one search measurement, its repeats and their mean."""
    by_id = {t.trial_id: t for t in trials}
    remeasured = sorted((t for t in trials if t.phase == Phase.REMEASURE), key=lambda t: -(t.remeasured_mean or 0))
    for x, t in enumerate(remeasured):
        search = by_id.get(t.remeasure_of or "")
        repeats = [r.output_tok_s_per_gpu for r in rows if r.trial_id == t.trial_id]
        passed = [r.meets_slo for r in rows if r.trial_id == t.trial_id]
        ax.scatter([x] * len(repeats), repeats, c=["tab:green" if p else "tab:red" for p in passed], s=22, zorder=2)
        if t.remeasured_mean is not None:
            ax.hlines(t.remeasured_mean, x - 0.25, x + 0.25, color="black", lw=2, zorder=3)
        if search is not None and search.score:
            ax.scatter([x - 0.3], [search.score], marker="D", s=30, color="tab:blue", zorder=3)
    ax.scatter([], [], marker="D", s=30, color="tab:blue", label="search (one measurement)")
    ax.hlines([], 0, 0, color="black", lw=2, label="mean of repeats meeting the SLOs")
    ax.scatter([], [], c="tab:green", s=22, label="repeat meets SLOs")
    ax.scatter([], [], c="tab:red", s=22, label="repeat misses SLOs")
    ax.set_xticks(range(len(remeasured)), [t.remeasure_of or t.trial_id for t in remeasured], fontsize=8)
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_title("Re-measured at the SLO boundary (best mean = answer)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)


def _ttft_slo(folder: CampaignFolder) -> float | None:
    """The task's p90 TTFT limit, drawn as a line (None: no task, or no such limit)."""
    spec, _ = folder.read_spec()
    return spec.objective.slo.ttft_p90_s if spec is not None else None

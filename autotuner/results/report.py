"""Render a campaign folder as text tables and a chart (PNG).

    autotuner report runs/quickstart          # prints the tables, writes runs/quickstart/report.png

The chart has throughput per GPU against p90 TTFT for every level of every trial, with the TTFT
SLO as a line and the answer marked; the best score found against trials run; and the
re-measurement: each candidate's search score (one measurement) beside its repeats and their mean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autotuner.results.progress import describe_config
from autotuner.results.folder import REMEASURE, SEARCH, TrialRecord, load_campaign


def trials_table(trials: list[TrialRecord], limit: int | None = None) -> str:
    """Search trials sorted by score (best first) as a fixed-width table."""
    rows = sorted((t for t in trials if t.phase == SEARCH), key=lambda t: (not t.feasible, -(t.score or 0)))
    lines = [f"{'trial':<14} {'status':<14} {'gpus':>4} {'lvls':>4} {'score':>10}  {'boundary':<10} config / reason"]
    for t in rows[:limit]:
        score = "-" if t.score is None else (f"{t.score:.4g}" if t.feasible else "infeasible")
        boundary = ",".join(f"c={load}" for load in t.boundary.values()) or "-"
        extra = describe_config(t.config) + (f"  [{t.reason}]" if t.reason else "")
        lines.append(f"{t.trial_id:<14} {t.status:<14} {t.gpus:>4} {t.levels_run:>4} {score:>10}  {boundary:<10} {extra}")
    return "\n".join(lines)


def remeasure_table(trials: list[TrialRecord]) -> str:
    """The re-measured configs: search score (one measurement) against the repeats."""
    by_id = {t.trial_id: t for t in trials}
    rows = sorted((t for t in trials if t.phase == REMEASURE), key=lambda t: -(t.remeasured_mean or 0))
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
    meta, trials, levels = load_campaign(folder)
    counts: dict[str, int] = {}
    for t in trials:
        if t.phase == SEARCH:
            counts[t.status] = counts.get(t.status, 0) + 1
    searched = sum(counts.values())
    out = [f"campaign {meta.get('name', folder.name)} ({meta.get('status', 'unknown')}): {searched} search trials, "
           + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), "", trials_table(trials)]
    if any(t.phase == REMEASURE for t in trials):
        out += ["", "re-measured at their SLO boundary load:", remeasure_table(trials)]
    best_path = folder / "best_config.json"
    if best_path.exists():
        best = json.loads(best_path.read_text())
        spread = best.get("remeasured")
        value = (f"{best['score']:.4g} {best['score_unit']} (mean of {spread['repeats']} repeats, "
                 f"{spread['min']:.4g}-{spread['max']:.4g}, {spread['passed']} met the SLOs on their own; "
                 f"the search measured {best['search_score']:.4g})"
                 if spread else f"{best['score']:.4g} {best['score_unit']} ({best.get('answer_note', '')})")
        out += ["", f"answer: trial {best['trial_id']} on {best['gpus']} GPU(s): {value}",
                f"  {describe_config(best['engine_args'])}", f"  launch: {best['launch_command_line']}"]
        out += [f"  engine note: {note}" for note in best.get("engine_notes") or ()]
        traffic = (best.get("provenance") or {}).get("traffic")
        if traffic:
            out.append(f"  traffic: {traffic}")
        engine = (best.get("provenance") or {}).get("engine") or {}
        if engine.get("simulated"):
            out.append(f"  simulated: these numbers come from the simulator {engine.get('version')}, not from "
                       f"{engine.get('flavor', 'the engine')} {engine.get('flavor_version', '')}".rstrip())
    else:
        out += ["", "no feasible config found"]
    return "\n".join(out)


def render_chart(folder: Path, out: Path | None = None) -> Path:
    """Write the campaign chart (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta, trials, levels = load_campaign(folder)
    spec_slo = _slo(folder)
    answer = _answer(folder)
    best = next((t for t in trials if answer and t.trial_id == answer["trial_id"]), None)
    out = out or folder / "report.png"
    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(18, 5.2), gridspec_kw={"width_ratios": [1.3, 1, 1]})

    by_trial: dict[str, list[dict[str, Any]]] = {}
    for r in levels:
        by_trial.setdefault(r["trial_id"], []).append(r)
    for tid, rows in by_trial.items():
        rows.sort(key=lambda r: r["level"])
        xs = [(r["ttft_p90_s"] or 0) * 1000 for r in rows]
        ys = [r["output_tok_s_per_gpu"] or 0 for r in rows]
        ax.plot(xs, ys, "-", color="0.8", lw=0.8, zorder=1)
        colors = ["tab:green" if r["meets_slo"] else "tab:red" for r in rows]
        ax.scatter(xs, ys, c=colors, s=18, zorder=2)
    if spec_slo.get("ttft_p90_s"):
        ax.axvline(spec_slo["ttft_p90_s"] * 1000, color="tab:red", ls="--", lw=1, label="p90 TTFT SLO")
    if best is not None and best.best_level:
        rows = [r for r in by_trial.get(best.trial_id, []) if r["level"] == best.best_level]
        if rows:
            r = rows[0]
            ax.scatter([(r["ttft_p90_s"] or 0) * 1000], [r["output_tok_s_per_gpu"]], marker="*", s=260,
                       c="gold", edgecolors="black", zorder=3, label=f"best: {best.trial_id} c={r['concurrency']}")
    ax.scatter([], [], c="tab:green", s=18, label="level meets SLOs")
    ax.scatter([], [], c="tab:red", s=18, label="level misses SLOs")
    ax.set_xlabel("p90 TTFT (ms)")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_title("Every level of every trial")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)

    ordered = sorted((t for t in trials if t.started and t.phase == SEARCH), key=lambda t: t.started or 0)
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
    ax2.set_title(f"Search progress ({meta.get('objective', 'goodput_per_gpu')})")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="lower right", fontsize=8)
    _remeasure_panel(ax3, trials, folder)
    engine = ((answer or {}).get("provenance") or {}).get("engine") or {}
    simulated = (f" (simulated: simulator {engine.get('version')}, not {engine.get('flavor', 'sglang')} "
                 f"{engine.get('flavor_version', '')})" if engine.get("simulated") else "")
    fig.suptitle(f"campaign {meta.get('name', folder.name)}{simulated}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _remeasure_panel(ax: Any, trials: list[TrialRecord], folder: Path) -> None:
    """Each re-measured config: its one search measurement, its repeats and their mean."""
    from autotuner.results.folder import read_rows

    by_id = {t.trial_id: t for t in trials}
    remeasured = sorted((t for t in trials if t.phase == REMEASURE), key=lambda t: -(t.remeasured_mean or 0))
    rows = read_rows(folder / "levels.parquet")
    for x, t in enumerate(remeasured):
        search = by_id.get(t.remeasure_of or "")
        repeats = [r["output_tok_s_per_gpu"] for r in rows if r["trial_id"] == t.trial_id]
        passed = [r["meets_slo"] for r in rows if r["trial_id"] == t.trial_id]
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


def _answer(folder: Path) -> dict[str, Any] | None:
    path = folder / "best_config.json"
    return json.loads(path.read_text()) if path.exists() else None


def _slo(folder: Path) -> dict[str, Any]:
    import yaml

    path = folder / "spec.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return (data.get("objective") or {}).get("slo") or {"ttft_p90_s": 1.0}

"""Render a campaign folder as text tables and a chart (PNG).

    autotuner report runs/quickstart          # prints the tables, writes runs/quickstart/report.png

The chart has throughput per GPU against p90 TTFT for every level of every trial, with the TTFT
SLO as a line and the best config marked, and the best score found against trials run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autotuner.progress import describe_config
from autotuner.results import TrialRecord, load_campaign, pick_best


def trials_table(trials: list[TrialRecord], limit: int | None = None) -> str:
    """Trials sorted by score (best first) as a fixed-width table."""
    rows = sorted(trials, key=lambda t: (t.score is None, -(t.score or 0)))
    lines = [f"{'trial':<14} {'status':<14} {'gpus':>4} {'lvls':>4} {'score':>10}  config / reason"]
    for t in rows[:limit]:
        score = "-" if t.score is None else f"{t.score:.4g}" + ("" if t.feasible else "*")
        extra = describe_config(t.config) + (f"  [{t.reason}]" if t.reason else "")
        lines.append(f"{t.trial_id:<14} {t.status:<14} {t.gpus:>4} {t.levels_run:>4} {score:>10}  {extra}")
    lines.append("(* infeasible: negative scores are how far the trial was from the SLOs)")
    return "\n".join(lines)


def summary_text(folder: Path) -> str:
    """The campaign's status, its trials and the best config."""
    meta, trials, levels = load_campaign(folder)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    out = [f"campaign {meta.get('name', folder.name)} ({meta.get('status', 'unknown')}): {len(trials)} trials, "
           + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), "", trials_table(trials)]
    best_path = folder / "best_config.json"
    if best_path.exists():
        best = json.loads(best_path.read_text())
        out += ["", f"best: trial {best['trial_id']} score {best['score']:.4g} {best['score_unit']} "
                f"on {best['gpus']} GPU(s)", f"  {describe_config(best['engine_args'])}",
                f"  launch: {best['launch_command_line']}"]
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
    best = pick_best(trials)
    out = out or folder / "report.png"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))

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

    ordered = sorted((t for t in trials if t.started), key=lambda t: t.started or 0)
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
    fig.suptitle(f"campaign {meta.get('name', folder.name)}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _slo(folder: Path) -> dict[str, Any]:
    import yaml

    path = folder / "spec.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return (data.get("objective") or {}).get("slo") or {"ttft_p90_s": 1.0}

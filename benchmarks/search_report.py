"""Tables, CSV files and the convergence plot of the search-strategy comparison."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Sequence

from autotuner.results import STOPPED_EARLY
from benchmarks.comparisons import (NO_ASHA, OURS, OURS_GRACE3, asha_saving, bench_gpu_h_per_trial,
                                    grid_gpu_h_to, share_of_grid)
from benchmarks.ground_truth import REJECTED, STARTUP_FAILED
from benchmarks.metrics import Point, first_within, spread
from benchmarks.search_bench import GAP_BUDGETS, StrategyRuns, SurfaceResult

SHARE_OF_GRID_GOAL = 0.20
ASHA_SAVING_GOAL = 0.40


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v * 100:.0f}%"


def ground_truth_table(results: Sequence[SurfaceResult]) -> str:
    rows = []
    for r in results:
        t, counts = r.truth, r.truth.counts()
        best = t.outcomes[t.best_keys()[0]].config
        within_1, within_3 = (sum(v >= (1 - tol) * t.optimum for v in t.full_scores.values()) for tol in (0.01, 0.03))
        rows.append([r.surface.title, str(counts["configs"]), str(counts["feasible"]), str(counts["slo_missed"]),
                     str(counts[STARTUP_FAILED]), str(counts[REJECTED]), f"{t.optimum:.1f}",
                     f"{within_1} / {within_3}", ", ".join(f"{k}={v}" for k, v in best.items()),
                     f"{t.compute_s:.0f} s" if t.compute_s else "cached"])
    return md_table(["surface", "configs", "feasible", "miss SLO at every level", "fail at start-up",
                     "rejected before deployment", "optimum (output tok/s per GPU)", "configs within 1% / 3%",
                     "an optimal config", "computed in"], rows)


def _strategy_row(runs: StrategyRuns, label: str, gap_budgets: Sequence[int]) -> list[str]:
    s = runs.summaries
    fail_trials = statistics.median(x.startup_failed_trials / max(x.trials, 1) for x in s)
    fail_gpu = statistics.median(x.startup_failed_gpu_h / x.gpu_h if x.gpu_h else 0.0 for x in s)
    return [label, str(len(s)),
            spread([x.to_3pct.gpu_h if x.to_3pct else None for x in s]).text(),
            spread([x.to_1pct.gpu_h if x.to_1pct else None for x in s]).text(),
            spread([x.to_3pct.trials if x.to_3pct else None for x in s]).text(),
            *(spread([x.gaps_at[n] for x in s]).text(pct=True) for n in gap_budgets),
            f"{spread([x.gpu_h for x in s]).text()} ({statistics.median(x.trials for x in s):.0f} trials)",
            f"{fail_trials * 100:.1f}% / {fail_gpu * 100:.1f}%",
            f"{statistics.median(x.rejected_trials for x in s):.0f}"]


def strategy_table(result: SurfaceResult) -> str:
    """One row per strategy (and the grid over the whole space); gaps after a strategy ended on its
    own (the grid, auto_tune) are its final gap."""
    gaps = [n for n in GAP_BUDGETS if n < result.budget] + [result.budget]
    rows = [_strategy_row(runs, runs.strategy.label, gaps) for runs in result.by_strategy.values()]
    whole = result.grid_whole_space
    rows.append(_strategy_row(whole, "Grid over the whole space", gaps))
    return md_table(["strategy", "runs", "GPU-h to <=3%", "GPU-h to <=1%", "trials to <=3%",
                     *(f"gap after {n} trials" for n in gaps), "GPU-h spent (trials)",
                     "start-up failures: trials / GPU-h", "rejected trials"], rows)


def asha_stops_table(result: SurfaceResult, strategy: str = OURS) -> str:
    """Where ASHA stopped our trials, by tp_size, next to what each tp_size is worth: ASHA compares
    trials on their score so far, so a group that is weak at low concurrency is stopped early
    whatever it reaches at high concurrency."""
    truth, levels = result.truth, len(result.surface.task.levels)
    by_tp: dict[int, list] = {}
    for trials in result.by_strategy[strategy].trials:
        for run in trials:
            by_tp.setdefault(int(run.config.get("tp_size", 1)), []).append(run)
    rows = []
    for tp, runs in sorted(by_tp.items()):
        started = [r for r in runs if r.levels_run > 0]
        at_first = [truth.score(r.key, 1).value for r in started]
        best = max((v for k, v in truth.full_scores.items() if int(truth.outcomes[k].config.get("tp_size", 1)) == tp),
                   default=math.nan)
        rows.append([str(tp), str(len(runs)), str(len(runs) - len(started)),
                     *(str(sum(r.levels_run == n and r.status == STOPPED_EARLY for r in started))
                       for n in range(1, levels)),
                     str(sum(r.levels_run == levels for r in started)),
                     f"{statistics.median(at_first):.0f}" if at_first else "n/a", f"{best:.0f}"])
    return md_table(["tp_size", "trials (all seeds)", "no level (failed, rejected)",
                     *(f"stopped after level {n}" for n in range(1, levels)), "ran every level",
                     "median score after level 1 (its trials)", "best full-sweep score (space)"], rows)


def goals_table(results: Sequence[SurfaceResult]) -> str:
    """The search goals per surface for our default (TPE + ASHA), with the grace-3 variant and
    plain TPE as context rows."""
    rows = []
    for r in results:
        title = r.surface.title
        for strategy, goal in ((OURS, f"<= {SHARE_OF_GRID_GOAL:.0%}"), (OURS_GRACE3, "(variant)"), (NO_ASHA, "(context)")):
            share = share_of_grid(r, 0.03, strategy)
            verdict = ("met" if share.median <= SHARE_OF_GRID_GOAL else "missed") if strategy == OURS else ""
            rows.append([title, f"{r.by_strategy[strategy].strategy.label}: GPU-h to <=3% as a share of the grid's "
                         f"({grid_gpu_h_to(r, 0.03):.3g} GPU-h)", goal, share.text(pct=True), verdict])
        for strategy, goal in ((OURS, f">= {ASHA_SAVING_GOAL:.0%}"), (OURS_GRACE3, "(variant)")):
            for tol in (0.03, 0.01):
                saving = asha_saving(r, tol, strategy)
                verdict = ("met" if not math.isnan(saving.bench) and saving.bench >= ASHA_SAVING_GOAL else "missed"
                           ) if strategy == OURS else ""
                rows.append([title, f"{r.by_strategy[strategy].strategy.label} vs no early stopping: saving of "
                             f"benchmark GPU-h to <={tol:.0%}", goal,
                             f"{_pct(saving.bench)} ({saving.bench_with_asha.text()} vs {saving.bench_without.text()} "
                             f"GPU-h); of all GPU-h: {_pct(saving.total)}", verdict])
            per_trial = 1 - bench_gpu_h_per_trial(r, strategy) / bench_gpu_h_per_trial(r, NO_ASHA)
            rows.append([title, f"{r.by_strategy[strategy].strategy.label}: saving of benchmark GPU-h per trial, "
                         f"same {r.budget}-trial budget", "(context)", _pct(per_trial), ""])
    return md_table(["surface", "measure", "goal", "measured: median [range] over seeds", "verdict"], rows)


def _hit_columns(point: Point | None) -> tuple[str, str]:
    return ("", "") if point is None else (f"{point.gpu_h:.4f}", str(point.trials))


def write_csvs(results: Sequence[SurfaceResult], out_dir: Path) -> list[Path]:
    """``runs.csv``: one row per replayed campaign; ``trials.csv``: one row per trial of each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_path, trials_path = out_dir / "runs.csv", out_dir / "trials.csv"
    with open(runs_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["surface", "strategy", "seed", "trials", "wall_h", "gpu_h", "bench_gpu_h",
                    "gpu_h_to_3pct", "trials_to_3pct", "gpu_h_to_1pct", "trials_to_1pct",
                    *(f"gap_after_{n}" for n in GAP_BUDGETS), "final_gap", "startup_failed_trials",
                    "startup_failed_gpu_h", "rejected_trials"])
        for r in results:
            for runs in [*r.by_strategy.values(), r.grid_whole_space]:
                name = runs.strategy.name if runs is not r.grid_whole_space else "grid_whole_space"
                for s in runs.summaries:
                    w.writerow([r.surface.name, name, "" if s.seed is None else s.seed, s.trials, f"{s.wall_h:.4f}",
                                f"{s.gpu_h:.4f}", f"{s.bench_gpu_h:.4f}",
                                *_hit_columns(s.to_3pct), *_hit_columns(s.to_1pct),
                                *(f"{s.gaps_at[n]:.5f}" for n in GAP_BUDGETS), f"{s.final_gap:.5f}",
                                s.startup_failed_trials, f"{s.startup_failed_gpu_h:.4f}", s.rejected_trials])
    with open(trials_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["surface", "strategy", "seed", "ended", "trial_id", "config", "gpus", "status", "levels_run",
                    "start_s", "end_s", "reported_score", "true_score", "gpu_h_so_far", "gap_so_far"])
        for r in results:
            for runs in r.by_strategy.values():
                for s, trials, points in zip(runs.summaries, runs.trials, runs.points):
                    for run, p in zip(trials, points):
                        w.writerow([r.surface.name, runs.strategy.name, "" if s.seed is None else s.seed, p.trials,
                                    run.trial_id, run.key, run.gpus, run.status, run.levels_run,
                                    f"{run.start_s:.1f}", f"{run.end_s:.1f}", f"{run.score:.3f}",
                                    f"{r.truth.full_scores[run.key]:.3f}", f"{p.gpu_h:.4f}", f"{p.gap:.5f}"])
    return [runs_path, trials_path]


def _gap_at(points: list[Point], gpu_h: float) -> float:
    """The answer's gap once ``gpu_h`` GPU-hours are spent (1.0 before the first answer)."""
    gap = 1.0
    for p in points:
        if p.gpu_h > gpu_h:
            break
        gap = p.gap
    return gap


def plot_convergence(results: Sequence[SurfaceResult], path: Path) -> Path:
    """Best-so-far gap against GPU-hours, one panel per surface: median over seeds, interquartile
    range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 5), squeeze=False)
    for ax, r in zip(axes[0], results):
        series = [(runs.strategy.label, runs.points) for runs in r.by_strategy.values()]
        whole = r.grid_whole_space.points[0]
        hit = first_within(whole, 0.01)
        x_max = max([pts[-1].gpu_h for _, group in series for pts in group if pts] + [hit.gpu_h if hit else 0])
        x_min = min(p.gpu_h for _, group in series for pts in group for p in pts[:1] if p.gpu_h > 0)
        xs = np.geomspace(x_min, x_max * 1.05, 300)
        for label, group in series:
            end = max(pts[-1].gpu_h for pts in group if pts)  # no curve past the runs' last trial
            shown = xs[xs <= end * 1.001]
            gaps = np.array([[_gap_at(pts, x) * 100 for x in shown] for pts in group])
            (line,) = ax.step(shown, np.median(gaps, axis=0), where="post", label=label)
            if len(group) > 1:
                low, high = np.percentile(gaps, [25, 75], axis=0)
                ax.fill_between(shown, low, high, step="post", alpha=0.12, color=line.get_color())
        ax.step(xs, [_gap_at(whole, x) * 100 for x in xs], where="post", linestyle=":", color="grey",
                label="Grid over the whole space")
        for level in (1, 3):
            ax.axhline(level, color="black", linewidth=0.5, linestyle="--")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, 100)
        ax.set_xlabel("GPU-hours spent (modelled)")
        ax.set_ylabel("gap of the best config so far to the optimum (%)")
        ax.set_title(f"{r.surface.title}\nmedian of {len(r.seeds)} seeds, interquartile range shaded")
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["asha_stops_table", "goals_table", "ground_truth_table", "md_table", "plot_convergence", "strategy_table", "write_csvs"]

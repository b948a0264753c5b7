"""Tables, goals and the CSV file of the hidden-worlds comparison (:mod:`benchmarks.world_bench`)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

from benchmarks.comparisons import ANSWER_TOLERANCE, INTERVAL_LEVEL, bootstrap_ratio_interval, ratio_of_medians
from benchmarks.metrics import spread
from benchmarks.search_report import md_table, pct, ratio_text, verdict
from benchmarks.strategies import OURS, OURS_TWIN, TWIN_ALONE, WORLD_CONTENDERS
from benchmarks.world_bench import WorldRun, WorldsResult

MAX_DEPLOYED_GOAL = 8  # median trials deployed to 3%, with the twin
GPU_H_SHARE_GOAL = 0.25  # with the twin / without, median GPU-hours to 3%
WORST_WORLD_GOAL = 1.10  # in no world more than 10% more GPU-hours to 3% than without the twin
NOT_RUN = "not run"  # ours without the twin was left out (--contenders): no ratio to it, and no verdict


def _gpu_h(runs: Sequence[WorldRun]) -> list[float | None]:
    return [r.gpu_h_to_3pct for r in runs]


def _median_ratio(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """median(a) / median(b), never-reached counting as infinite (:func:`benchmarks.comparisons.ratio_of_medians`)."""
    return ratio_of_medians(spread(a), spread(b))


def _world_ratio(twin: Sequence[WorldRun], without: Sequence[WorldRun]) -> float:
    """GPU-h to 3% with / without the twin in one world (medians); a world the twin's runs mostly
    never got there while ours without it did counts as infinitely worse, not as no ratio."""
    with_twin, plain = spread(_gpu_h(twin)).median, spread(_gpu_h(without)).median
    if math.isinf(with_twin):
        return math.nan if math.isinf(plain) else math.inf
    return _median_ratio(_gpu_h(twin), _gpu_h(without))


def contender_table(result: WorldsResult) -> str:
    """One row per contender over every world x seed."""
    without = _gpu_h(result.of(OURS))
    rows = []
    for strategy in WORLD_CONTENDERS:
        runs = result.of(strategy.name)
        if not runs:
            continue
        answers = sum(r.summary.answer_gap <= ANSWER_TOLERANCE + 1e-12 for r in runs)
        reached = sum(r.summary.to_3pct is not None for r in runs)
        ratio, interval = "", ""
        if strategy.name != OURS and strategy.seeded and len(runs) == len(without):
            ratio = ratio_text(_median_ratio(_gpu_h(runs), without))
            low, high = bootstrap_ratio_interval(_gpu_h(runs), without)
            interval = f"[{low:.2f}-{high:.2f}]" if not math.isinf(high) else f"[{low:.2f}-never]"
        rows.append([strategy.label, str(len(runs)), f"{answers}/{len(runs)}", f"{reached}/{len(runs)}",
                     spread([r.deployed_to_3pct for r in runs]).text(),
                     spread(_gpu_h(runs)).text(), f"{ratio} {interval}".strip(),
                     spread([r.summary.answer_gap for r in runs]).text(pct=True),
                     spread([r.summary.total_gpu_h for r in runs]).text()])
    return md_table(["contender", "runs (worlds x seeds)", "answer within 3% after re-measurement",
                     "search within 3% in the budget", "deployed trials to <=3%", "GPU-h to <=3%",
                     f"GPU-h to <=3% / ours without the twin (median ratio, {INTERVAL_LEVEL:.0%} interval)",
                     "answer's true gap", "GPU-h spent in all"], rows)


def world_table(result: WorldsResult) -> str:
    """One row per world: what it changes, the twin alone's gap, and ours with and without the twin."""
    rows = []
    for world in result.worlds:
        alone = result.of(TWIN_ALONE, world.index)
        twin, without = result.of(OURS_TWIN, world.index), result.of(OURS, world.index)
        rows.append([str(world.index), world.describe(), f"{result.optima[world.index]:.1f}",
                     pct(alone[0].summary.answer_gap) if alone else "",
                     spread([r.deployed_to_3pct for r in twin]).text(), spread(_gpu_h(twin)).text(),
                     spread(_gpu_h(without)).text() if without else NOT_RUN,
                     ratio_text(_world_ratio(twin, without)) if without else NOT_RUN,
                     f"{sum(r.summary.answer_gap <= ANSWER_TOLERANCE + 1e-12 for r in twin)}/{len(twin)}"])
    return md_table(["world", "the real engine vs the simulator", "optimum", "twin alone's gap",
                     "with the twin: deployed trials to <=3%", "with the twin: GPU-h to <=3%",
                     "without: GPU-h to <=3%", "GPU-h ratio with / without", "with the twin: answers within 3%"], rows)


def world_goals(results: Sequence[WorldsResult]) -> str:
    """Issue 23's goals per surface, met or missed."""
    rows = []
    for result in results:
        twin, without = result.of(OURS_TWIN), result.of(OURS)
        if not twin:
            continue
        title = result.surface.title
        reached = sum(r.summary.to_3pct is not None for r in twin)
        answers = sum(r.summary.answer_gap <= ANSWER_TOLERANCE + 1e-12 for r in twin)
        deployed = spread([r.deployed_to_3pct for r in twin]).median
        share = _median_ratio(_gpu_h(twin), _gpu_h(without))
        worst = max((_world_ratio(result.of(OURS_TWIN, w.index), result.of(OURS, w.index)) for w in result.worlds),
                    key=lambda v: -1 if math.isnan(v) else v)

        def relative(ratio: float, goal: float) -> list[str]:
            """A goal against ours without the twin: measured and verdict (none where it was not run)."""
            return [ratio_text(ratio), verdict(not math.isnan(ratio) and ratio <= goal)] if without else [NOT_RUN, ""]

        rows += [
            [title, "with the twin, within 3% in every run", f"{reached}/{len(twin)}", verdict(reached == len(twin))],
            [title, f"median deployed trials to 3% <= {MAX_DEPLOYED_GOAL}", f"{deployed:g}",
             verdict(deployed <= MAX_DEPLOYED_GOAL)],
            [title, f"GPU-h to 3% <= {GPU_H_SHARE_GOAL:.2f} of ours without the twin (medians)",
             *relative(share, GPU_H_SHARE_GOAL)],
            [title, f"worst world: GPU-h to 3% <= {WORST_WORLD_GOAL:.2f} x ours without the twin",
             *relative(worst, WORST_WORLD_GOAL)],
            [title, "re-measured answer within 3% in every run", f"{answers}/{len(twin)}",
             verdict(answers == len(twin))],
        ]
    return md_table(["surface", "goal", "measured", ""], rows)


def write_world_csv(results: Sequence[WorldsResult], path: Path) -> Path:
    """One row per replayed campaign of the worlds comparison."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["surface", "world", "strategy", "seed", "trials", "deployed_to_3pct", "gpu_h_to_3pct",
                    "trials_to_3pct", "answer_gap", "total_gpu_h", "optimum"])
        for result in results:
            for name, runs in result.runs.items():
                for r in runs:
                    s = r.summary
                    w.writerow([result.surface.name, r.world, name, "" if s.seed is None else s.seed, s.trials,
                                "" if r.deployed_to_3pct is None else r.deployed_to_3pct,
                                "" if s.to_3pct is None else f"{s.to_3pct.gpu_h:.4f}",
                                "" if s.to_3pct is None else s.to_3pct.trials, f"{s.answer_gap:.4f}",
                                f"{s.total_gpu_h:.3f}", f"{result.optima[r.world]:.2f}"])
    return path


__all__ = ["contender_table", "world_goals", "world_table", "write_world_csv"]

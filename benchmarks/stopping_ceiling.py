"""About what any early-stopping rule could save on a surface, against what ours saves::

    python -m benchmarks.stopping_ceiling --surface benchmarks/surfaces/qwen32b-h200-long.yaml [--seeds 20]

Our rule (:mod:`autotuner.stopping.bound`) stops a trial only once its levels prove it cannot
win. :class:`OracleStopping` reads the answer instead: after any level, it stops a trial whose
config's true score (the ground truth's, noise-free) is more than ``tolerance`` below the true score
of the best config that has met the SLOs so far. No tuner can run it, but with the same sampler,
load hint and load search it stops every trial that cannot matter as early as levels allow, and never
the optimum: its saving is the reference a sound rule is judged by on that surface. A reference, not
a strict bound: what the sampler learns from stopped trials changes its path, seed by seed.

Prints, for ours with each rule and without early stopping, the median GPU-hours to within 3% of
the optimum (range over seeds), early stopping's saving and the optimum's trials stopped.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from benchmarks.comparisons import gpu_h_to, optimum_stopped, saving
from benchmarks.ground_truth import GroundTruth, load_ground_truth
from benchmarks.noise import NoiseModel
from benchmarks.search_bench import GAP_BUDGETS, StrategyRuns, SurfaceResult, quiet_optuna, run_seeds
from benchmarks.search_report import md_table, pct
from benchmarks.strategies import GRID, OURS, OURS_NO_ES, STRATEGIES, Contender, Strategy
from benchmarks.surface import Surface, load_surface

ORACLE = "ours_oracle_stopping"
TOLERANCE = 0.03


class OracleStopping(FIFOScheduler):
    """Stops a trial once its config's true score is more than ``tolerance`` below the best true
    score among the configs that met the SLOs in some report so far. Reads ``trial.config`` (Tune's
    ``Trial`` has it; so has the replay's handle)."""

    def __init__(self, truth: GroundTruth, tolerance: float = TOLERANCE):
        super().__init__()
        self.truth = truth
        self.tolerance = tolerance
        self.best: float | None = None

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        true = self._observe(trial, result)
        if not result.get("done") and self.best is not None and true < self.best * (1 - self.tolerance):
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._observe(trial, result or {})

    def _observe(self, trial: Any, result: dict) -> float:
        """The trial's true score, counted in the best once a report says it met the SLOs."""
        true = self.truth.truth(trial.config).score
        if result.get("feasible") and (self.best is None or true > self.best):
            self.best = true
        return true


def oracle_strategy(truth: GroundTruth) -> Strategy:
    """Ours (the task's sampler and load hint) with :class:`OracleStopping` instead of the bound rule."""
    ours = next(s for s in STRATEGIES if s.name == OURS)

    def build(surface: Surface, seed: int, budget: int) -> Contender:
        contender = ours.build(surface, seed, budget)
        return Contender(contender.searcher, OracleStopping(truth), load_hint=True, alike=contender.alike)
    return Strategy(ORACLE, "Optuna TPE, random interleaved, + oracle stopping (reads the ground truth)", True, build)


def compare(surface: Surface, seeds: Sequence[int], budget: int, noise: NoiseModel = NoiseModel()) -> SurfaceResult:
    """Ours with the bound rule, with the oracle, and without early stopping, on the same seeds."""
    quiet_optuna()
    truth = load_ground_truth(surface, progress=print)
    strategies = [s for s in STRATEGIES if s.name in (OURS, OURS_NO_ES)] + [oracle_strategy(truth)]
    gaps = (*GAP_BUDGETS, budget)
    by_strategy = {s.name: run_seeds(surface, truth, s, seeds, budget, noise, gaps) for s in strategies}
    return SurfaceResult(surface, truth, budget, list(seeds), by_strategy, StrategyRuns(GRID))


def table(result: SurfaceResult) -> str:
    """The comparison as a markdown table."""
    rows = []
    for name, label in ((OURS_NO_ES, "none"), (OURS, "bound rule (ours)"), (ORACLE, "oracle (reads the answer)")):
        spent = gpu_h_to(result, name, TOLERANCE).text()
        if name == OURS_NO_ES:
            rows.append([label, spent, "", ""])
            continue
        behind, _, trials = optimum_stopped(result, name)
        rows.append([label, spent, pct(saving(result, TOLERANCE, name)), f"{behind} of {trials}"])
    return md_table(["stopping", "median GPU-h to <=3% [range]", "saving vs no early stopping",
                     "optimum's trials stopped"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stopping_ceiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--surface", required=True, help="a surface file, or a name under benchmarks/surfaces/")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20, as --full)")
    parser.add_argument("--budget", type=int, default=200, help="trials per campaign (default 200, as --full)")
    args = parser.parse_args(argv)
    surface = load_surface(args.surface)
    result = compare(surface, range(args.seeds), args.budget)
    print(f"{surface.title}, seeds 0-{args.seeds - 1}, {args.budget} trials, noise on\n")
    print(table(result))
    return 0


__all__ = ["ORACLE", "OracleStopping", "compare", "main", "oracle_strategy", "table"]


if __name__ == "__main__":
    raise SystemExit(main())

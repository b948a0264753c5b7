"""Early stopping that never drops a winner: stop a trial once it provably cannot beat the best.

Each report carries ``score_bound``, an upper bound on the score the trial can still reach
(:mod:`autotuner.objective`): once a level at load c breaks an SLO, every level that meets the SLOs
lies below c (latency does not fall as load rises) and makes no more throughput than the failing
level made at c (throughput does not fall either). The scheduler keeps the best score any trial
has reported and stops a trial whose bound is below it::

    stop  when  score_bound < best_score * (1 - margin)

Sound under those two properties; ``margin`` (``search.stop_margin``, 5% by default) leaves room
for measurement noise, which can make the best score look higher and a bound look lower than they
are. A trial that meets the SLOs at its current load has no bound yet and always goes on. With the
searcher's load hint, a new trial's first level runs at the best trial's boundary load, so a config
that is worse per GPU usually breaks the SLOs there and is stopped after one level.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler


class BoundStoppingScheduler(FIFOScheduler):
    """Stops trials whose ``score_bound`` is below the best ``score`` by more than ``margin``."""

    def __init__(self, margin: float = 0.05):
        super().__init__()
        self.margin = margin
        self.best: float | None = None

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        self._observe(result)
        if should_stop(result, self.best, self.margin):
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._observe(result or {})

    def _observe(self, result: dict) -> None:
        if result.get("feasible") and (self.best is None or result["score"] > self.best):
            self.best = float(result["score"])

    def debug_string(self) -> str:
        return f"BoundStopping: best score {self.best}, margin {self.margin:.0%}"


def should_stop(result: dict, best: float | None, margin: float) -> bool:
    """Whether a running trial's last report proves it cannot beat ``best``."""
    bound = result.get("score_bound")
    return not result.get("done") and bound is not None and best is not None and bound < best * (1 - margin)


__all__ = ["BoundStoppingScheduler", "should_stop"]

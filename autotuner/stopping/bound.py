"""Early stopping that never drops a winner: stop a trial once it provably cannot beat the best.

Each report carries ``score_bound``, an upper bound on the score the trial can still reach
(:mod:`autotuner.trial.objective`): once a level at load c breaks an SLO, every level that meets the SLOs
lies below c (latency does not fall as load rises) and makes no more throughput than the failing
level made at c (throughput does not fall either). The scheduler keeps the best score any trial
is sure of (see below) and stops a trial whose bound is below it::

    stop  when  score_bound < assured_score(best trial) * (1 - margin)

Sound under those two properties; ``margin`` (``search.stop_margin``, 5% by default) leaves room
for measurement noise in throughput, twice that while the bound rests on a trial's only level (it
may be an outlier). Noise also decides pass or fail at a load whose latency sits
at the SLO, so the best trial's boundary level may be a lucky pass one user above its true
boundary, and at small loads one user is a large share (12 users instead of 11: 9%). Its score is
therefore trusted only down to what one user fewer makes at least, by Little's law (same tokens per
request, latency no higher): ``score * (c - 1) / c``. Without this, a lucky best stopped true optima
on the long-prompt benchmark surface (BENCHMARKS.md). A trial that meets the SLOs at its current
load has no bound yet and always goes on. With the load hint (:mod:`autotuner.stopping.load_hint`), a
new trial's first level runs at the best trial's boundary load, so a config that is clearly worse
per GPU breaks the SLOs there and is stopped after one level, and one that is a little worse after
the next level, a ``load.resolution`` step lower (:mod:`autotuner.trial.loadsearch`). A level above a
passing one ends as soon as its requests prove that it breaks an SLO (:mod:`autotuner.bench.fail_fast`):
the bound then rests on the passing level's throughput, not on the failing level's.
"""

from __future__ import annotations

from typing import Any, Callable

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from autotuner.trial.objective import assured_score


class BoundStoppingScheduler(FIFOScheduler):
    """Stops trials whose ``score_bound`` is below the best trial's :func:`assured_score` by more
    than ``margin``.

    ``seed`` gives the best assured score of the trials that ended before this run started: Tune
    restores a scheduler as it was pickled when the campaign's first run began, so on a resume it
    would otherwise start from nothing and stop less. It is asked once, at the first report.
    """

    seed: Callable[[], float | None] | None = None  # also for schedulers pickled before it existed

    def __init__(self, margin: float = 0.05, seed: Callable[[], float | None] | None = None):
        super().__init__()
        self.margin = margin
        self.best: float | None = None  # the best assured score so far
        self.seed = seed

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        self._observe(result)
        if should_stop(result, self.best, self.margin):
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._observe(result or {})

    def _observe(self, result: dict) -> None:
        if self.seed is not None:
            seeded, self.seed = self.seed(), None
            if seeded is not None and (self.best is None or seeded > self.best):
                self.best = seeded
        if result.get("feasible"):
            value = assured_score(result["score"], result.get("boundary") or ())
            if self.best is None or value > self.best:
                self.best = value

    def debug_string(self) -> str:
        return f"BoundStopping: best assured score {self.best}, margin {self.margin:.0%}"


def should_stop(result: dict, best: float | None, margin: float) -> bool:
    """Whether a running trial's last report proves it cannot beat ``best``: its bound is below
    ``best`` by ``margin``, or by twice that while the bound rests on the trial's only level (a lone
    level may be a slow outlier; from the second level on, levels vouch for each other, see
    :mod:`autotuner.trial.objective`).

    >>> should_stop({"score_bound": 92.0, "level": 2}, best=100.0, margin=0.05)
    True
    >>> should_stop({"score_bound": 92.0, "level": 1}, best=100.0, margin=0.05)
    False
    """
    bound = result.get("score_bound")
    if result.get("done") or bound is None or best is None:
        return False
    lone = int(result.get("level") or 0) <= 1
    return bound < best * (1 - (2 * margin if lone else margin))


__all__ = ["BoundStoppingScheduler", "should_stop"]

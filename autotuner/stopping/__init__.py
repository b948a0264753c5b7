"""Early stopping, one concept with three parts, all on or all off (``search.early_stopping``):

* the bound rule (:mod:`autotuner.stopping.bound`): a Tune scheduler that stops a trial once its
  own levels prove it cannot beat what the best trial is sure of;
* the load hint (:mod:`autotuner.stopping.load_hint`): a new trial's first level runs at the best
  trial's boundary load, so a weaker config breaks the SLOs there and is stopped after one level;
* fail-fast levels (:mod:`autotuner.bench.fail_fast`, the check a level runner applies): a level
  above a passing one ends as soon as its requests prove that it breaks a p90 SLO.

::

    stopping = EarlyStopping.from_spec(spec)
    tune.TuneConfig(..., scheduler=stopping.scheduler())
    callbacks = [IncumbentFeed(recorder, cid)] if stopping.uses_load_hint else []
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec


@dataclass(frozen=True)
class EarlyStopping:
    """The task's early stopping: whether it is on, and the bound rule's margin."""

    on: bool
    margin: float = 0.05
    bounds_scores: bool = True  # the objective's scores have bounds (goodput per GPU); latency's do not

    @classmethod
    def from_spec(cls, spec: TaskSpec) -> EarlyStopping:
        return cls(on=spec.search.stops_early, margin=spec.search.stop_margin,
                   bounds_scores=spec.objective.kind == "goodput_per_gpu")

    @property
    def uses_load_hint(self) -> bool:
        """Whether trials start their load search at the best trial's boundary load."""
        return self.on

    @property
    def fails_fast(self) -> bool:
        """Whether a level above a passing one ends once it provably breaks a p90 SLO
        (:func:`autotuner.trial.sweep.fail_fast_for` gives the limits)."""
        return self.on

    def scheduler(self, seed: Callable[[], float | None] | None = None) -> Any:
        """The Tune scheduler: the bound rule (``seed``: what it starts from on a resume,
        :class:`~autotuner.stopping.bound.BoundStoppingScheduler`), or FIFO (no stopping)."""
        from ray.tune.schedulers import FIFOScheduler

        from autotuner.stopping.bound import BoundStoppingScheduler

        if not self.on or not self.bounds_scores:
            return FIFOScheduler()
        return BoundStoppingScheduler(margin=self.margin, seed=seed)


__all__ = ["EarlyStopping"]

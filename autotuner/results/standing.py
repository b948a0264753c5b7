"""Where a campaign stands, read back from its trials.parquet: what a resumed run starts from.

On ``--resume`` Tune restores its callbacks and its scheduler as they were pickled when the first
run started, knowing nothing of the trials that ended since. The progress line and the
early-stopping rule start from this instead, so a resumed campaign counts on from where it was
and stops trials against the best found before the stop, not against the best found since::

    now = read_standing(Path("runs/quickstart"))
    len(now.ended), now.best, now.assured_best
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialRecord, TrialStatus, has_valid_score
from autotuner.trial.directive import Phase
from autotuner.trial.objective import assured_score


@dataclass(frozen=True)
class Standing:
    """The search trials that ended, the re-measurement trials that ended, the best score (and
    its trial) and the best score a trial is sure of (:func:`~autotuner.stopping.bound.assured_score`)."""

    ended: frozenset[str] = frozenset()
    remeasured: frozenset[str] = frozenset()
    best: tuple[float, str] | None = None
    assured_best: float | None = None


def standing(trials: Iterable[TrialRecord]) -> Standing:
    """Where the campaign of ``trials`` stands."""
    trials = list(trials)
    ended = frozenset(t.trial_id for t in trials if t.phase == Phase.SEARCH and t.has_ended)
    remeasured = frozenset(t.trial_id for t in trials if t.phase == Phase.REMEASURE and t.status == TrialStatus.DONE)
    feasible = [t for t in trials if t.phase == Phase.SEARCH and has_valid_score(t)]  # never a failed trial
    best = max(((float(t.score), t.trial_id) for t in feasible if t.score is not None), default=None)
    assured = max((assured_score(float(t.score), t.boundary.items()) for t in feasible if t.score is not None),
                  default=None)
    return Standing(ended, remeasured, best, assured)


def read_standing(folder: Path) -> Standing:
    """Where the campaign in ``folder`` stands (nothing ended when it has no trials.parquet yet)."""
    return standing(CampaignFolder(folder).read_trials())


def assured_best_in(folder: str) -> float | None:
    """The best score a trial of the campaign in ``folder`` is sure of: the early-stopping rule's
    reference when it starts (picklable as ``functools.partial(assured_best_in, folder)``)."""
    return read_standing(Path(folder)).assured_best


__all__ = ["Standing", "assured_best_in", "read_standing", "standing"]

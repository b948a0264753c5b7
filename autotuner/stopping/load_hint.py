"""Where a new trial starts its load search: the best trial's boundary load, read when the trial starts.

With early stopping, a trial's first level runs at the load per GPU where the best trial so far
met its SLO boundary, so that one level tells whether the config can win
(:mod:`autotuner.stopping.bound`). The best trial is read when the trial starts, not when
Optuna proposed its config: Tune keeps as many proposals waiting for GPUs as there are GPU slots,
and a proposal may wait while several trials end; the best found meanwhile is the one to start
from. On the long-prompt benchmark surface (4 slots, trials of 1, 2 and 4 GPUs) this cut the median
GPU-hours to within 3% of the optimum from 2.15 to 1.66 (BENCHMARKS.md).

The campaign keeps the best trial in a small named Ray actor, :data:`IncumbentBoard`, fed on the
driver by the Tune callback :class:`IncumbentFeed` with every report of the search; a starting
trial asks it with :func:`load_hint`::

    board = Incumbent()
    board.offer(1800.0, [("D(100,100)", 32)], gpus=2)
    board.hint()        # {"D(100,100)": 16.0}: the boundary load per GPU
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import ray
from ray.tune import Callback

from autotuner.results.hub import HUB_NAMESPACE
from autotuner.results.records import has_valid_score
from autotuner.trial.directive import Phase, TrialDirective

ASK_TIMEOUT_S = 10.0  # a trial that cannot ask in this time starts without the hint
SETUP_TIMEOUT_S = 60.0  # the campaign waits this long at most for its board to start

log = logging.getLogger(__name__)


@dataclass
class Incumbent:
    """The best feasible trial so far: its score and its boundary load per GPU, per scenario."""

    score: float | None = None
    load_per_gpu: dict[str, float] = field(default_factory=dict)

    def offer(self, score: float, boundary: Iterable[tuple[str, float]], gpus: int) -> None:
        """A trial met the SLOs up to ``boundary`` (scenario, load) on ``gpus`` GPUs, making ``score``."""
        loads = {scenario: load / max(gpus, 1) for scenario, load in boundary}
        if loads and (self.score is None or score > self.score):
            self.score, self.load_per_gpu = score, loads

    def offer_report(self, result: Mapping[str, Any]) -> None:
        """A trial's report (``TrialReport.to_tune``): offered when it met the SLOs somewhere."""
        if result.get("feasible") and result.get("boundary"):
            self.offer(float(result["score"]), result["boundary"], int(result.get("gpus") or 1))

    def hint(self) -> dict[str, float]:
        """The first load per GPU of a new trial's search, per scenario ({} before any trial met the SLOs)."""
        return dict(self.load_per_gpu)


# The actor: one per campaign run, owned by the driver (it ends with it).
IncumbentBoard = ray.remote(num_cpus=0)(Incumbent)


def board_name(campaign_id: str) -> str:
    return f"incumbent-{campaign_id}"


def load_hint(campaign_id: str) -> dict[str, float]:
    """The campaign's best boundary load per GPU, asked from its board; {} when there is none yet
    or the board cannot be reached (the trial then searches from ``load.start``)."""
    try:
        board = ray.get_actor(board_name(campaign_id), namespace=HUB_NAMESPACE)
        return ray.get(board.hint.remote(), timeout=ASK_TIMEOUT_S)
    except Exception as err:  # no board (early stopping off, a campaign run by other means) or Ray refuses
        log.info("no load hint for campaign %s: %s", campaign_id, err)
        return {}


class IncumbentFeed(Callback):
    """Tune callback that starts the campaign's board and offers it every search report.

    Placed after the :class:`~autotuner.results.recorder.ResultsRecorder`: on ``--resume`` the board is
    seeded with the trials the recorder reloaded, so the hint survives a crash of the driver.
    """

    def __init__(self, recorder: Any, campaign_id: str):
        self.recorder = recorder
        self.campaign_id = campaign_id
        self._board: Any = None

    # Tune pickles callbacks with the experiment state: never the actor handle.
    def __getstate__(self) -> dict[str, Any]:
        return {"recorder": self.recorder, "campaign_id": self.campaign_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def setup(self, **info: Any) -> None:
        try:
            self._board = IncumbentBoard.options(name=board_name(self.campaign_id), namespace=HUB_NAMESPACE,
                                                 get_if_exists=True).remote()
        except Exception as err:  # the campaign goes on; its trials search from load.start
            log.warning("no load hint board for campaign %s: %s", self.campaign_id, err)
            return
        seeded = [self._board.offer.remote(rec.score, list(rec.boundary.items()), rec.gpus)
                  for rec in self.recorder.trials.values()
                  if rec.phase == Phase.SEARCH and has_valid_score(rec) and rec.boundary]
        try:  # the board is up and seeded before the first trial asks it (on a busy host its start takes seconds)
            ray.get(seeded or [self._board.hint.remote()], timeout=SETUP_TIMEOUT_S)
        except Exception as err:  # the trials that ask meanwhile search from load.start
            log.warning("the load hint board of campaign %s is not ready: %s", self.campaign_id, err)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self._board is not None and not TrialDirective.of_config(trial.config).remeasures:
            self._board.offer_report.remote(result)


__all__ = ["ASK_TIMEOUT_S", "SETUP_TIMEOUT_S", "Incumbent", "IncumbentBoard", "IncumbentFeed", "board_name", "load_hint"]

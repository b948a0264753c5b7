"""A campaign replayed in modelled time over the ground truth, without Ray or any process.

The searcher and the scheduler are driven through the calls Ray Tune's ``TuneController`` makes
(``ray/tune/execution/tune_controller.py``, Ray 2.60), so the real ``OptunaSearch`` +
``ConcurrencyLimiter`` and ``ASHAScheduler`` of :mod:`autotuner.campaign` decide exactly as they
would in a campaign:

* new trials are asked for while fewer than ``slots`` are live (the campaign's
  ``ConcurrencyLimiter(max_concurrent=budget.gpus)``, which is also Tune's pending-trial limit);
* a trial starts when its tp*dp GPUs are free (first fit, in the order trials were created;
  rejected configs claim none), and reports at the times of its :class:`TrialTimeline`;
* a report with ``done`` stops the trial; any other goes to ``scheduler.on_trial_result``, and
  only a CONTINUE reaches ``searcher.on_trial_result``; a stopped trial gets
  ``scheduler.on_trial_complete`` and then ``searcher.on_trial_complete`` with its last report.

Searchers may also be plain objects with ``suggest``/``on_trial_result``/``on_trial_complete``
(the baselines), and may propose :class:`StartOnly` deployments.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Protocol

from autotuner.objective import REJECTED_SCORE, STARTUP_FAILED_SCORE
from autotuner.results import DONE, FAILED, REJECTED, STOPPED_EARLY
from autotuner.space import engine_args
from benchmarks.ground_truth import OK, GroundTruth
from benchmarks.ground_truth import REJECTED as OUTCOME_REJECTED
from benchmarks.space_grid import config_key
from benchmarks.trial_cost import TrialTimeline, trial_timeline

# Tune's constants (ray.tune.search.Searcher.FINISHED, TrialScheduler.CONTINUE/STOP).
FINISHED = "FINISHED"
CONTINUE, STOP = "CONTINUE", "STOP"
READY = "ready"  # status of a StartOnly deployment that came up


@dataclass(frozen=True)
class StartOnly:
    """A deployment that is torn down as soon as it is ready (no benchmark)."""

    config: dict[str, Any]


class Searcher(Protocol):
    def suggest(self, trial_id: str) -> dict[str, Any] | StartOnly | str | None: ...
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None: ...
    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None: ...


class Scheduler(Protocol):
    def on_trial_add(self, tune_controller: Any, trial: Any) -> None: ...
    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str: ...
    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None: ...


@dataclass
class TrialRun:
    """One trial of a replayed campaign, in modelled seconds from the campaign's start."""

    trial_id: str
    key: str  # config_key of its engine args
    config: dict[str, Any]
    gpus: int
    start_only: bool
    timeline: TrialTimeline
    start_s: float = -1.0
    end_s: float = -1.0
    levels_run: int = 0
    score: float = 0.0  # the last reported score: what the search and pick_best see
    feasible: bool = False
    status: str = ""  # autotuner.results status once ended (DONE, STOPPED_EARLY, FAILED, REJECTED)

    @property
    def bench_start_s(self) -> float:
        return self.start_s + self.timeline.bench_start_s

    def gpu_seconds(self) -> float:
        return self.gpus * (self.end_s - self.start_s)

    def bench_gpu_seconds(self) -> float:
        return self.gpus * max(0.0, self.end_s - self.bench_start_s)


@dataclass(frozen=True)
class _Handle:
    """What Tune's schedulers read of a trial."""

    trial_id: str


class ReplayError(RuntimeError):
    """The searcher left nothing running and proposed nothing (it would hang a campaign)."""


def _report(truth: GroundTruth, run: TrialRun, k: int) -> dict[str, Any]:
    """The k-th (0-based) report of a trial, with the fields the campaign's reports carry."""
    outcome = truth.outcomes[run.key]
    last = k == len(run.timeline.report_at) - 1
    if outcome.status == OUTCOME_REJECTED:
        return {"training_iteration": 1, "score": REJECTED_SCORE, "feasible": False, "done": True,
                "status": REJECTED, "level": 0}
    if outcome.status != OK:
        return {"training_iteration": 1, "score": STARTUP_FAILED_SCORE, "feasible": False, "done": True,
                "status": FAILED, "level": 0}
    if run.start_only:
        return {"training_iteration": 1, "score": 0.0, "feasible": False, "done": True, "status": READY, "level": 0}
    score = truth.score(run.key, k + 1)
    return {"training_iteration": k + 1, "score": score.value, "feasible": score.feasible, "done": last,
            "status": DONE if last else "running", "level": k + 1}


def replay_campaign(truth: GroundTruth, searcher: Searcher, scheduler: Scheduler, *, slots: int,
                    budget: int) -> list[TrialRun]:
    """Run a campaign of at most ``budget`` trials on ``slots`` GPUs; the trials in end order."""
    minutes = truth.spec.workload.minutes_per_level
    events: list[tuple[float, int, int, int]] = []  # (time, seq, trial index, report index)
    trials: list[TrialRun] = []
    pending: list[int] = []
    ended: list[TrialRun] = []
    live, free = 0, slots
    now, seq = 0.0, 0
    exhausted = False

    while True:
        while not exhausted and len(trials) < budget and live < slots:
            trial_id = f"{len(trials):05d}"
            suggestion = searcher.suggest(trial_id)
            if suggestion is None:
                break
            if suggestion == FINISHED:
                exhausted = True
                break
            start_only = isinstance(suggestion, StartOnly)
            config = engine_args(suggestion.config if start_only else suggestion)
            outcome = truth.outcome(config)
            trials.append(TrialRun(trial_id, config_key(config), config, outcome.gpus, start_only,
                                   trial_timeline(outcome, minutes, start_only=start_only)))
            scheduler.on_trial_add(None, _Handle(trial_id))
            pending.append(len(trials) - 1)
            live += 1
        for index in list(pending):
            run = trials[index]
            if run.gpus <= free:
                free -= run.gpus
                run.start_s = now
                pending.remove(index)
                heapq.heappush(events, (now + run.timeline.report_at[0], seq, index, 0))
                seq += 1
        if not events:
            if pending or (not exhausted and len(trials) < budget):
                raise ReplayError(f"nothing running, {len(pending)} trials cannot start and the "
                                  f"searcher proposed nothing after {len(trials)} of {budget} trials")
            return ended
        now, _, index, k = heapq.heappop(events)
        run = trials[index]
        result = _report(truth, run, k)
        run.score, run.feasible, run.levels_run = result["score"], result["feasible"], result["level"]
        decision = STOP if result["done"] else scheduler.on_trial_result(None, _Handle(run.trial_id), result)
        if decision == STOP:
            scheduler.on_trial_complete(None, _Handle(run.trial_id), result)
            searcher.on_trial_complete(run.trial_id, result)
            run.end_s = now
            run.status = result["status"] if result["done"] else STOPPED_EARLY
            free += run.gpus
            live -= 1
            ended.append(run)
        else:
            searcher.on_trial_result(run.trial_id, result)
            heapq.heappush(events, (run.start_s + run.timeline.report_at[k + 1], seq, index, k + 1))
            seq += 1


__all__ = ["FINISHED", "READY", "ReplayError", "StartOnly", "TrialRun", "replay_campaign"]

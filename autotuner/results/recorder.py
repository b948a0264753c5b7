"""A Tune callback on the driver that keeps the campaign's tables up to date.

It is the single writer of ``levels.parquet`` and ``trials.parquet``, for the search and the
re-measurement alike. On ``--resume`` it reloads them and drops the rows of trials that Tune
restarts (they run their levels again), so nothing is counted twice and a row of an interrupted
run never stays "running". A trial the tables record as ended keeps its record and rows when
Tune's older saved state restarts it anyway: the trial only reports its recorded end again
(:meth:`~autotuner.results.records.TrialRecord.final_report`). A trial stopped by the
early-stopping rule gets the rule's reason: the bound its levels proved and the best score it
could not reach.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback

from autotuner.results.dashboard import trial_actor_id
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import REMEASURED_FIELDS, LevelRow, TrialRecord, TrialStatus
from autotuner.results.standing import standing
from autotuner.trial.directive import Phase, TrialDirective
from autotuner.trial.objective import stop_explanation
from autotuner.task.space import engine_args
from autotuner.trial.report import TrialReport


class ResultsRecorder(Callback):
    """Writes every reported level and every trial's state to the campaign folder."""

    def __init__(self, folder: str, unit: str, flush_interval_s: float = 1.0):
        self.folder = folder
        self.unit = unit
        self.flush_interval_s = flush_interval_s
        self._trials: dict[str, TrialRecord] = {}
        self._levels: list[LevelRow] = []
        self._ended_before: set[str] = set()  # trials that ended in an earlier run of the campaign
        self._loaded = False
        self._last_flush = 0.0

    # Tune pickles callbacks with the experiment state; keep only the settings.
    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "unit": self.unit, "flush_interval_s": self.flush_interval_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    @property
    def trials(self) -> dict[str, TrialRecord]:
        return self._trials

    def setup(self, **info: Any) -> None:
        self._load()
        # The tables exist before Tune saves any state: a folder whose Tune state outlived them
        # was damaged, not started (autotuner/campaign/folder_guard.py).
        self.flush(force=True)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        folder = CampaignFolder(self.folder)
        for rec in folder.read_trials():
            if rec.status in (TrialStatus.DEPLOYING, TrialStatus.RUNNING):
                rec.status, rec.reason = TrialStatus.INTERRUPTED, rec.reason or "campaign interrupted"
            self._trials[rec.trial_id] = rec
        self._ended_before = {rec.trial_id for rec in self._trials.values() if rec.has_ended}
        self._levels = folder.read_levels()

    def _record(self, trial: Any) -> TrialRecord:
        rec = self._trials.get(trial.trial_id)
        if rec is None:
            directive = TrialDirective.of_config(trial.config)
            rec = self._trials[trial.trial_id] = TrialRecord(
                trial.trial_id, engine_args(trial.config), phase=directive.phase, remeasure_of=directive.remeasure_of,
                boundary=dict(directive.loads))
        return rec

    def ended_before(self, trial_id: str) -> bool:
        """Whether the trial ended in an earlier run (it only reports its recorded end again)."""
        self._load()
        return trial_id in self._ended_before

    def best_assured_score(self) -> float | None:
        """What the best feasible trial of the search so far is sure of (the early-stopping rule's
        reference, :func:`~autotuner.stopping.bound.assured_score`)."""
        return standing(self._trials.values()).assured_best

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.ended_before(trial.trial_id):
            return
        rec = self._record(trial)
        # A restarted trial runs its sweep from the beginning: forget what it reported before.
        self._levels = [r for r in self._levels if r.trial_id != trial.trial_id]
        rec.status, rec.reason, rec.levels_run = TrialStatus.DEPLOYING, "", 0
        rec.score, rec.feasible, rec.violation = None, False, None
        rec.started, rec.ended = time.time(), None
        rec.actor_id = trial_actor_id(trial)
        self.flush(force=True)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.ended_before(trial.trial_id):
            return
        rec = self._record(trial)
        report = TrialReport.from_tune(result)
        rec.gpus = report.gpus
        rec.levels_run = report.level
        rec.score = float(report.score)
        rec.feasible, rec.violation = report.feasible, report.violation
        rec.best_level = report.best_level
        rec.engine_startup_s = report.engine_startup_s
        if rec.phase == Phase.SEARCH:
            rec.boundary = dict(report.boundary or rec.boundary)
        rec.status = report.status
        rec.reason = report.reason
        rec.bound, rec.bound_note = report.score_bound, report.bound_note
        for name in REMEASURED_FIELDS:
            if getattr(report, name) is not None:
                setattr(rec, name, getattr(report, name))
        if report.measured is not None:
            self._levels.append(LevelRow.from_report(trial.trial_id, rec.config, report))
        self.flush(force=rec.status != TrialStatus.RUNNING)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.ended_before(trial.trial_id):
            return
        rec = self._record(trial)
        rec.ended = time.time()
        if rec.status == TrialStatus.RUNNING:
            rec.status = TrialStatus.STOPPED_EARLY
            rec.reason = stop_reason(rec, self.best_assured_score(), self.unit)
        self.flush(force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.ended_before(trial.trial_id):
            return
        rec = self._record(trial)
        rec.ended = time.time()
        rec.status = TrialStatus.FAILED
        err = getattr(trial, "error_file", None) or ""
        rec.reason = rec.reason or f"trial raised an error (see {err})"
        self.flush(force=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for rec in self._trials.values():
            if rec.status in (TrialStatus.DEPLOYING, TrialStatus.RUNNING):
                rec.status, rec.reason = TrialStatus.INTERRUPTED, "campaign ended before the trial finished"
        self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_interval_s:
            return
        self._last_flush = now
        folder = CampaignFolder(self.folder)
        folder.write_levels(self._levels)
        folder.write_trials(list(self._trials.values()))


def stop_reason(rec: TrialRecord, assured_best: float | None, unit: str) -> str:
    """Why the early-stopping rule stopped a trial, from its last report."""
    why = stop_explanation(rec.bound, assured_best, rec.bound_note, unit)
    return f"stopped early after level {rec.levels_run}{why}"


__all__ = ["ResultsRecorder", "stop_reason"]

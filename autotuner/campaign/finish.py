"""How a run ends: its status once Tune returned, and the wrap-up that always leaves the folder
saying how it ended (leftovers swept, the answer and the twin's accuracy written, campaign.json final)."""

from __future__ import annotations

import time
from typing import Sequence

from autotuner.campaign.gc import collect_garbage
from autotuner.results.answer import write_answer
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignStatus, TrialRecord, TrialStatus
from autotuner.task.spec import TaskSpec
from autotuner.trial.directive import Phase
from autotuner.twin.calibrate import campaign_accuracy


def settled_status(trials: Sequence[TrialRecord], spec: TaskSpec, stop_signal: str | None) -> CampaignStatus:
    """The campaign's status once Tune returned."""
    unfinished = any(t.status == TrialStatus.INTERRUPTED for t in trials)
    # Without a wall-time budget, the search ends early only when it was stopped.
    searched = sum(t.phase == Phase.SEARCH for t in trials)
    short = searched < spec.budget.trials and (stop_signal is not None or not spec.budget.wall_time_s)
    if unfinished or short:
        return CampaignStatus.STOPPED if stop_signal else CampaignStatus.INTERRUPTED
    return CampaignStatus.FINISHED


def wrap_up(spec: TaskSpec, cid: str, objective_unit: str, folder: CampaignFolder, status: CampaignStatus,
            error: str | None, tuned: bool, stop_signal: str | None) -> Exception | None:
    """Sweep leftovers, write the best config and the final campaign.json. Returns (instead of
    raising) the first failure, which the caller raises only when nothing else went wrong."""
    failures: list[Exception] = []
    cleanup_error = None
    try:
        collect_garbage(spec, cid)
    except Exception as err:
        failures.append(err)
        cleanup_error = f"{type(err).__name__}: {err}"
    best = None
    try:
        _, trials, levels = folder.load()
        if tuned:
            status = settled_status(trials, spec, stop_signal)
        best = write_answer(spec, cid, folder, trials, levels, objective_unit)
        accuracy = campaign_accuracy(spec, folder.path) if levels else None
        if accuracy is not None:
            folder.write_twin(accuracy)
    except Exception as err:
        failures.append(err)
        error = error or f"writing the results failed: {type(err).__name__}: {err}"
    try:
        folder.update_meta(status=status, ended=time.time(), error=error, cleanup_error=cleanup_error,
                           best_trial=best.trial_id if best else None, best_score=best.score if best else None)
    except Exception as err:
        failures.append(err)
    return failures[0] if failures else None


__all__ = ["settled_status", "wrap_up"]

"""What `autotuner run` does with the folder it is pointed at, and how a run's status settles;
pure rules, no Ray."""

from pathlib import Path

import pytest

from autotuner.campaign.errors import CampaignError
from autotuner.campaign.finish import settled_status
from autotuner.campaign.start import StartMode, start_mode
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignMeta, CampaignStatus, TrialRecord, TrialStatus
from autotuner.task.load import require_valid

FOLDER = CampaignFolder(Path("/runs/q"))


def mode(status: str | None, *, started=True, restorable=True, resume=False, same=True) -> str:
    meta = CampaignMeta(status=CampaignStatus(status)) if status else None
    return start_mode(FOLDER, meta, trials_started=started, can_restore=restorable, resume=resume, same_task=same)


def test_an_empty_folder_starts_fresh_and_has_nothing_to_resume():
    assert mode(None) == StartMode.FRESH
    with pytest.raises(CampaignError, match="nothing to resume"):
        mode(None, resume=True)


@pytest.mark.parametrize("status", ["starting", "running", "failed", "stopped"])
def test_a_campaign_that_started_no_trial_can_be_run_again_and_resumed(status):
    assert mode(status, started=False) == StartMode.FRESH
    assert mode(status, started=False, resume=True) == StartMode.FRESH


def test_an_unfinished_campaign_is_resumed_not_overwritten():
    assert mode("stopped", resume=True) == StartMode.RESTORE
    assert mode("running", resume=True) == StartMode.RESTORE  # its driver was killed (the lock said so)
    with pytest.raises(CampaignError, match="resume it with --resume"):
        mode("stopped")
    with pytest.raises(CampaignError, match="no Tune experiment state"):
        mode("stopped", resume=True, restorable=False)


def test_a_finished_campaign_is_reported_again_unless_the_task_changed():
    assert mode("finished") == StartMode.ALREADY_FINISHED
    assert mode("finished", resume=True, same=False) == StartMode.ALREADY_FINISHED
    with pytest.raises(CampaignError, match="another task"):
        mode("finished", same=False)


def test_the_status_after_tune_returns():
    spec = require_valid({"name": "s", "model": {"name": "meta-llama/Llama-3.2-1B-Instruct"},
                          "search": {"space": {"max_running_requests": {"low": 8, "high": 64}}},
                          "budget": {"trials": 2}})
    done = [TrialRecord("a", {}, status=TrialStatus.DONE), TrialRecord("b", {}, status=TrialStatus.DONE)]
    assert settled_status(done, spec, None) == "finished"
    assert settled_status(done, spec, "SIGTERM") == "finished"  # the stop came after the last trial
    assert settled_status(done[:1], spec, "SIGTERM") == "stopped"
    assert settled_status([done[0], TrialRecord("b", {}, status=TrialStatus.INTERRUPTED)], spec, None) == "interrupted"
    timed = spec.model_copy(update={"budget": spec.budget.model_copy(update={"wall_time_s": 60})})
    assert settled_status(done[:1], timed, None) == "finished"  # the wall-time budget ran out
    assert settled_status(done[:1], timed, "SIGINT") == "stopped"

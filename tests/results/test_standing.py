"""Issue 25 item 11: a resumed campaign's progress line and early-stopping rule start from the
trials that ended before the stop (read back from trials.parquet), not from nothing. Tune restores
its callbacks and scheduler as pickled when the first run began: here they are pickled and
unpickled the same way."""

import functools
import io
import pickle
from types import SimpleNamespace

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialRecord, TrialStatus
from autotuner.trial.directive import Phase
from autotuner.results.progress import ProgressPrinter
from autotuner.results.standing import assured_best_in, read_standing
from autotuner.stopping import EarlyStopping
from autotuner.stopping.bound import BoundStoppingScheduler
from ray.tune.schedulers import TrialScheduler


def stopped_campaign(folder):
    """trials.parquet of a campaign stopped after 3 of its trials ended and one was interrupted."""
    trials = [TrialRecord("a", {"tp_size": 1}, status=TrialStatus.DONE, score=300.0, feasible=True, boundary={"D(1,1)": 10}),
              TrialRecord("b", {"tp_size": 2}, status=TrialStatus.STOPPED_EARLY, score=100.0, feasible=True, boundary={"D(1,1)": 4}),
              TrialRecord("c", {"tp_size": 4}, status=TrialStatus.FAILED, score=900.0, feasible=True, boundary={"D(1,1)": 40},
                          reason="engine killed mid-level"),  # a config that crashes is no reference
              TrialRecord("d", {"tp_size": 1}, status=TrialStatus.INTERRUPTED, score=50.0),
              TrialRecord("r", {"tp_size": 1}, phase=Phase.REMEASURE, status=TrialStatus.DONE, remeasure_of="a", remeasured_mean=290.0)]
    folder.mkdir(parents=True, exist_ok=True)
    CampaignFolder(folder).write_trials(trials)
    return folder


def test_the_standing_of_a_stopped_campaign(tmp_path):
    now = read_standing(stopped_campaign(tmp_path / "c"))
    assert now.ended == {"a", "b", "c"} and now.remeasured == {"r"}  # d runs again
    assert now.best == (300.0, "a") and now.assured_best == 270.0  # 300 * 9/10
    assert read_standing(tmp_path / "empty").ended == frozenset()


def test_a_restored_scheduler_stops_against_the_best_found_before_the_stop(tmp_path):
    folder = stopped_campaign(tmp_path / "c")
    scheduler = EarlyStopping(on=True, margin=0.05).scheduler(seed=functools.partial(assured_best_in, str(folder)))
    restored = pickle.loads(pickle.dumps(scheduler))  # as Tuner.restore gets it
    assert isinstance(restored, BoundStoppingScheduler)
    # A second-level bound of 240 cannot beat the 270 trial "a" is sure of: stop.
    result = {"score_bound": 240.0, "level": 2, "feasible": False, "score": 0.0}
    assert restored.on_trial_result(None, SimpleNamespace(trial_id="e"), result) == TrialScheduler.STOP
    assert restored.best == 270.0
    unseeded = BoundStoppingScheduler(margin=0.05)
    assert unseeded.on_trial_result(None, SimpleNamespace(trial_id="e"), result) == TrialScheduler.CONTINUE


def test_an_old_pickled_scheduler_without_a_seed_still_runs():
    old = BoundStoppingScheduler(margin=0.05)
    del old.__dict__["seed"]
    restored = pickle.loads(pickle.dumps(old))
    assert restored.on_trial_result(None, SimpleNamespace(trial_id="e"), {"score_bound": 1.0}) == TrialScheduler.CONTINUE


def trial(trial_id, config=None):
    return SimpleNamespace(trial_id=trial_id, config=config or {"tp_size": 1}, status="TERMINATED",
                           last_result={"status": "done", "score": 0.0, "feasible": False, "level": 1},
                           error_file="")


def test_a_restored_progress_line_counts_on_from_the_trials_that_ended(tmp_path):
    folder = stopped_campaign(tmp_path / "c")
    printer = pickle.loads(pickle.dumps(ProgressPrinter(16, "tok/s/GPU", folder=str(folder))))
    out = io.StringIO()
    printer._stream = out
    printer.setup()
    printer.on_trial_error(0, [], trial("d"))
    line = out.getvalue().strip().splitlines()[-1]
    assert "progress: 4/16 trials ended, 1 re-measured" in line and "best 300 tok/s/GPU (a)" in line, line
    printer.setup()  # the re-measurement's experiment sets it up again: nothing is counted twice
    printer.on_trial_error(0, [], trial("e"))
    assert "progress: 5/16 trials ended" in out.getvalue().strip().splitlines()[-1]

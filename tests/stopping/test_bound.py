"""The early-stopping rule: a trial stops once its bound is below the best score by the margin."""

from ray.tune.schedulers import TrialScheduler

from autotuner.stopping.bound import BoundStoppingScheduler, should_stop


class Trial:
    trial_id = "t"


def test_should_stop_only_on_a_bound_below_the_best_by_the_margin():
    assert should_stop({"score_bound": 94.0, "level": 2}, best=100.0, margin=0.05)
    assert not should_stop({"score_bound": 96.0, "level": 2}, best=100.0, margin=0.05)
    # a bound resting on the trial's only level needs twice the margin: that level may be an outlier
    assert not should_stop({"score_bound": 94.0, "level": 1}, best=100.0, margin=0.05)
    assert should_stop({"score_bound": 89.0, "level": 1}, best=100.0, margin=0.05)
    assert not should_stop({"score_bound": None}, best=100.0, margin=0.05)  # no level broke an SLO yet
    assert not should_stop({"score_bound": 10.0}, best=None, margin=0.05)  # nothing to compare with
    assert not should_stop({"score_bound": 10.0, "done": True}, best=100.0, margin=0.05)


def test_scheduler_keeps_the_best_feasible_score_from_results_and_completions():
    scheduler = BoundStoppingScheduler(margin=0.1)
    assert scheduler.on_trial_result(None, Trial(), {"feasible": True, "score": 100.0, "score_bound": None}) \
        == TrialScheduler.CONTINUE
    scheduler.on_trial_complete(None, Trial(), {"feasible": True, "score": 200.0})
    scheduler.on_trial_complete(None, Trial(), {"feasible": False, "score": 0.0})
    assert scheduler.best == 200.0
    # its own score counts too: a trial that is the best never stops itself
    assert scheduler.on_trial_result(None, Trial(), {"feasible": True, "score": 250.0, "score_bound": 260.0}) \
        == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, Trial(), {"feasible": False, "score": 0.0, "score_bound": 200.0,
                                                     "level": 2}) == TrialScheduler.STOP


def test_a_lucky_pass_of_the_best_trial_does_not_stop_a_config_that_ties_it():
    """The best trial passed at c=12, perhaps by luck, so it is only sure of 11/12 of its score:
    a config that breaks the SLOs at 12 making 110 may still beat it and goes on."""
    scheduler = BoundStoppingScheduler(margin=0.05)
    scheduler.on_trial_complete(None, Trial(), {"feasible": True, "score": 120.0, "boundary": [["D", 12]]})
    assert scheduler.best == 110.0
    assert scheduler.on_trial_result(None, Trial(), {"feasible": False, "score": 0.0, "score_bound": 110.0,
                                                     "level": 2}) == TrialScheduler.CONTINUE  # 110 < 120 * 0.95 only
    assert scheduler.on_trial_result(None, Trial(), {"feasible": False, "score": 0.0, "score_bound": 100.0,
                                                     "level": 2}) == TrialScheduler.STOP

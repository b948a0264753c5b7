"""The searcher tells Optuna values and constraints, and deploys no config twice."""

import optuna
import pytest

from autotuner.search import make_searcher
from autotuner.stopping import EarlyStopping
from autotuner.search.constrained import REDRAWS, learned_value
from autotuner.search.samplers import RandomInterleavedSampler, make_sampler
from autotuner.task.load import require_valid


def spec(**search):
    return require_valid({"name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
                          "search": {"space": {"tp_size": {"choices": [1, 2]},
                                               "max_running_requests": {"low": 8, "high": 64}},
                                     "prior": "none", **search},  # today's search (the twin's: tests/twin)
                          "workload": {"scenarios": ["D(100,100)"]}, "seed": 3})


@pytest.mark.parametrize("result, expected", [
    ({"feasible": True, "score": 900.0, "status": "done", "done": True}, (900.0, 0.0)),
    # stopped early: the midpoint of what it made and its bound, not infeasible
    ({"feasible": False, "score": 0.0, "score_bound": 600.0, "violation": 0.5, "status": "running"}, (300.0, 0.0)),
    ({"feasible": True, "score": 500.0, "score_bound": 600.0, "status": "running"}, (500.0, 0.0)),
    # the same, replayed by a resumed run whose Tune state was older than the folder (TrialRecord.final_report)
    ({"feasible": False, "score": 0.0, "score_bound": 600.0, "violation": 0.5, "status": "stopped early",
      "done": True}, (300.0, 0.0)),
    ({"feasible": False, "score": 0.0, "score_bound": None, "violation": 2.0, "status": "done", "done": True},
     (0.0, 2.0)),
    ({"feasible": False, "score": 0.0, "violation": 10.0, "status": "failed", "done": True}, (0.0, 10.0)),
])
def test_learned_value(result, expected):
    assert learned_value(result) == expected


def test_searcher_passes_constraints_to_optuna():
    searcher = make_searcher(spec())
    searcher.set_search_properties("score", "max", {})
    searcher.suggest("a")
    searcher.on_trial_result("a", {"feasible": True, "score": 500.0, "boundary": [("D(100,100)", 32)], "gpus": 2,
                                   "training_iteration": 1})
    searcher.on_trial_complete("a", {"feasible": True, "score": 500.0, "boundary": [("D(100,100)", 32)], "gpus": 2,
                                     "training_iteration": 1, "done": True, "status": "done"})
    searcher.suggest("b")
    searcher.on_trial_complete("b", {"feasible": False, "score": 0.0, "violation": 3.0, "status": "done",
                                     "done": True, "training_iteration": 1})
    study = searcher.searcher._ot_study
    trials = study.get_trials(deepcopy=False)
    assert [t.system_attrs['constraints:slo'] for t in trials] == [0.0, 3.0]
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_a_trial_the_host_refused_teaches_the_sampler_nothing():
    searcher = make_searcher(spec())
    searcher.set_search_properties("score", "max", {})
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"feasible": False, "score": 0.0, "violation": 10.0, "status": "failed",
                                     "done": True, "training_iteration": 1, "distortion": "the server fell 9% behind"})
    searcher.suggest("b")  # a refused trial with a passing level before: its score counts
    searcher.on_trial_complete("b", {"feasible": True, "score": 400.0, "status": "failed", "done": True,
                                     "training_iteration": 2, "distortion": "the server fell 9% behind"})
    trials = searcher.searcher._ot_study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert trials[1].value == 400.0


def test_a_config_measured_before_is_answered_from_memory_not_deployed_again():
    searcher = make_searcher(require_valid({
        "name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"}, "workload": {"scenarios": ["D(100,100)"]},
        "search": {"space": {"tp_size": {"choices": [1]}, "max_running_requests": {"choices": [8, 16]}}}, "seed": 3}))
    searcher.set_search_properties("score", "max", {})
    deployed = []
    for n in range(2):
        config = searcher.suggest(f"t{n}")
        deployed.append(config["max_running_requests"])
        searcher.on_trial_complete(f"t{n}", {"feasible": True, "score": 100.0 + n, "boundary": [("D(100,100)", 8)],
                                             "gpus": 1, "training_iteration": 1, "done": True, "status": "done"})
    assert sorted(deployed) == [8, 16]  # the second trial is the config not measured yet
    inner = searcher.searcher
    study_size = len(inner._ot_study.trials)
    # both measured: the sampler is answered REDRAWS times, then (the whole space tried) one runs again
    assert searcher.suggest("t2")["max_running_requests"] in (8, 16)
    assert len(inner._ot_study.trials) == study_size + REDRAWS + 1
    told = {t.params["max_running_requests"]: t.value for t in inner._ot_study.trials if t.value is not None}
    assert told == {deployed[0]: 100.0, deployed[1]: 101.0}


class _FirstChoice(optuna.samplers.RandomSampler):
    """A 'model' that always proposes a parameter's first choice."""

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        return param_distribution.choices[0]


def test_in_a_small_space_a_sampler_stuck_on_tried_configs_gets_the_untried_ones():
    searcher = make_searcher(require_valid({
        "name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"}, "workload": {"scenarios": ["D(100,100)"]},
        "search": {"space": {"max_running_requests": {"choices": [8, 16, 32]}}, "prior": "none"}, "seed": 3}),
        sampler=_FirstChoice())
    searcher.set_search_properties("score", "max", {})
    deployed = []
    for n in range(4):
        deployed.append(searcher.suggest(f"t{n}")["max_running_requests"])
        searcher.on_trial_complete(f"t{n}", {"feasible": True, "score": 100.0, "boundary": [("D(100,100)", 8)],
                                             "gpus": 1, "training_iteration": 1, "done": True, "status": "done"})
    assert deployed[0] == 8 and sorted(deployed[1:3]) == [16, 32]  # each after REDRAWS proposals of 8
    assert deployed[3] == 8  # all three tried: the sampler's proposal runs again
    assert len(searcher.searcher._ot_study.trials) == 4 + 3 * REDRAWS


def test_only_a_space_small_enough_is_listed():
    assert len(make_searcher(spec()).searcher._listed) == 2 * 57  # tp 1-2 x max_running_requests 8-64
    continuous = make_searcher(require_valid({
        "name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"}, "workload": {"scenarios": ["D(100,100)"]},
        "search": {"space": {"mem_fraction_static": {"low": 0.5, "high": 0.9}}, "prior": "none"}, "seed": 3}))
    assert continuous.searcher._listed is None  # the sampler is asked again, up to MAX_REUSED times


def test_factories_follow_the_task():
    tpe = make_sampler("tpe", 0)
    assert type(tpe).__name__ == "RandomInterleavedSampler" and type(tpe.model).__name__ == "TPESampler"
    assert type(make_sampler("random", 0)).__name__ == "RandomSampler"
    assert type(EarlyStopping.from_spec(spec()).scheduler()).__name__ == "BoundStoppingScheduler"
    assert type(EarlyStopping.from_spec(spec(early_stopping="none")).scheduler()).__name__ == "FIFOScheduler"


class _Constant(optuna.samplers.RandomSampler):
    """A 'model' that always proposes x = 0.5."""

    def sample_independent(self, study, trial, param_name, param_distribution):
        return 0.5


def test_every_eighth_trial_after_the_start_up_is_drawn_at_random():
    sampler = RandomInterleavedSampler(_Constant(), seed=0, every=8, after=10)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=33)
    random_turns = [t.number for t in study.trials if t.params["x"] != 0.5]
    assert random_turns == [16, 24, 32]

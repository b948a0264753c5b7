"""Twin-guided search: the twin's best configs run first, and a config it predicts far below the best
trial is not deployed (the sampler is told the prediction). Real Optuna searcher, no Ray cluster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from autotuner.search import make_searcher
from autotuner.task.load import require_valid
from autotuner.task.space import engine_args
from autotuner.trial.directive import TrialDirective
from autotuner.twin.grid import config_key
from autotuner.twin.guide import VETO_SHARE, TwinGuide, start_count, twin_start

SPACE = {"tp_size": {"choices": [1, 2]}, "max_running_requests": {"choices": [4, 16, 64, 128]},
         "chunked_prefill_size": {"choices": [1024, 8192]}, "disable_cuda_graph": {"choices": [False, True]}}
INITIAL = {"tp_size": 2, "max_running_requests": 16, "chunked_prefill_size": 1024, "disable_cuda_graph": True}


def task(prior: str = "twin", initial: bool = True, **budget):
    return require_valid({
        "name": "twin-guide", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
        "engine": {"backend": "local", "gpu": "H100", "local": {"command": "simulator"}},
        "search": {"space": SPACE, "prior": prior, "initial_configs": [INITIAL] if initial else []},
        "workload": {"scenarios": ["D(128,32)"], "load": {"min": 1, "max": 256, "start": 8},
                     "requests_per_level": 16, "requests_per_user": 3},
        "objective": {"slo": {"ttft_p90_s": 0.25, "tpot_p90_s": 0.03}},
        "budget": {"trials": 12, "gpus": 2, **budget}, "seed": 5})


def done(score: float, load: int = 64) -> dict:
    return {"feasible": True, "score": score, "boundary": [("D(128,32)", load)], "gpus": 1, "training_iteration": 1,
            "done": True, "status": "done"}


def test_twin_start_gives_its_best_configs_diversified_without_the_initial_ones():
    spec = task()
    start = twin_start(spec)
    assert len(start.points) == start_count(spec, start.predictions) == 2
    assert all(set(p) == set(SPACE) for p in start.points)
    assert config_key(INITIAL) not in {config_key(p) for p in start.points}
    first, second = start.points
    assert sum(first[k] != second[k] for k in SPACE) >= 2
    assert first["max_running_requests"] >= 64 and start.predictions[0].score > start.predictions[1].score * 0.8
    assert "twin: simulator" in start.line() and "search.prior: none" in start.line()
    assert not start.first_alone and "alone" not in start.line()  # the task's initial config runs beside them


def test_the_campaign_tries_its_initial_config_then_the_twins_and_says_so():
    said = []
    searcher = make_searcher(task(), announce=said.append)
    searcher.set_search_properties("score", "max", {})
    proposed = [searcher.suggest(f"t{i}") for i in range(2)]
    start = twin_start(task())
    assert engine_args(proposed[0]) == INITIAL
    assert engine_args(proposed[1]) == dict(start.points[0])
    assert len(said) == 1 and said[0].startswith("twin: ")
    # each starts its load search at the twin's predicted boundary load: the discrete-event
    # simulator's for its start configs, the fast path's for the task's own
    guide = searcher.searcher._guide
    assert TrialDirective.of_config(proposed[1]) == TrialDirective.search_from(dict(start.predictions[0].boundary))
    assert TrialDirective.of_config(proposed[0]) == TrialDirective.search_from(dict(guide.predict(INITIAL).boundary))
    assert not TrialDirective.of_config(proposed[1]).remeasures and start.predictions[0].boundary[0][1] > 8


def test_prior_none_is_todays_search():
    said = []
    searcher = make_searcher(task("none"), announce=said.append)
    assert said == [] and searcher.searcher._guide is None
    assert searcher.searcher._points_to_evaluate == [INITIAL]


def test_veto_skips_only_configs_predicted_far_below_the_best_trial():
    spec = task()
    veto = TwinGuide(spec, protected={config_key(INITIAL)})
    weak = {"tp_size": 1, "max_running_requests": 4, "chunked_prefill_size": 8192, "disable_cuda_graph": False}
    strong = {"tp_size": 1, "max_running_requests": 128, "chunked_prefill_size": 8192, "disable_cuda_graph": False}
    best = veto.predict(strong).score
    assert veto.verdict(weak, 0.0) is None  # no trial has ended: nothing to compare with
    value, constraint = veto.verdict(weak, best)
    assert value == pytest.approx(veto.predict(weak).score) and value < VETO_SHARE * best and constraint == 0.0
    assert veto.verdict(strong, best) is None
    assert veto.verdict(INITIAL, 10 * best) is None  # what the task asked to try first runs
    assert len(veto.vetoed) == 1 and "predicted" in veto.vetoed[0][1]


def test_the_veto_predicts_with_the_twin_calibrated_on_the_measured_levels():
    from autotuner.sim import plan_memory
    from autotuner.twin.predict import Model, Twin
    from autotuner.sim.cost import StepCost
    from autotuner.twin.steady import Calibration, SteadyLevelModel

    spec = task()
    veto = TwinGuide(spec)
    strong = {"tp_size": 1, "max_running_requests": 128, "chunked_prefill_size": 8192, "disable_cuda_graph": False}
    other = {"tp_size": 1, "max_running_requests": 16, "chunked_prefill_size": 1024, "disable_cuda_graph": True}
    before = veto.predict(strong).score
    slower = Calibration(decode=2.0, prefill=2.0)  # an engine twice as slow per step as the simulator
    twin = Twin(spec)
    for config in (strong, other):
        plan = plan_memory(twin.args(config))
        world = SteadyLevelModel(plan, StepCost(plan, slower.scale))
        for load in (4, 16, 48):
            veto.observe_level(config, world.level("D(128,32)", load, twin.sizing(load)))
    after = veto.predict(strong).score
    truth = Twin(spec, slower).predict(strong, Model.STEADY).score
    assert after == pytest.approx(truth, rel=0.1) and after < 0.7 * before
    assert veto.report is not None and veto.report.levels == 6
    assert veto.report.after["tpot_p90_s"] < veto.report.before["tpot_p90_s"] / 5


def test_the_searcher_tells_optuna_the_prediction_instead_of_deploying_a_vetoed_config():
    spec = task()
    said = []
    searcher = make_searcher(spec, announce=said.append)
    searcher.set_search_properties("score", "max", {})
    inner = searcher.searcher
    strong = dict(twin_start(spec).points[0])
    best = inner._guide.predict(strong).score
    deployed = []
    for i in range(8):
        config = searcher.suggest(f"t{i}")
        deployed.append(config)
        searcher.on_trial_complete(f"t{i}", done(best if engine_args(config) == strong else 0.6 * best))
    vetoed = [c for c, _ in inner._guide.vetoed]
    assert vetoed and all(c["max_running_requests"] in (4, 16) for c in vetoed)  # predicted far below 64 and 128
    assert not {config_key(c) for c in vetoed} & {config_key({**spec.engine.fixed, **engine_args(c)}) for c in deployed}
    told = [t for t in inner._ot_study.get_trials(deepcopy=False) if t.value is not None]
    assert len(told) >= len(deployed) + len(vetoed)
    not_deployed = [line for line in said if line.startswith("twin: not deploying ")]
    assert len(not_deployed) == len(vetoed) and "the best trial is sure of" in not_deployed[0]


def test_an_unknown_prior_is_refused_naming_the_field():
    from autotuner.task.load import parse_spec

    data = task().model_dump(mode="json")
    data["search"]["prior"] = "oracle"
    _, problems = parse_spec(data)
    assert any(p.path == "search.prior" and "twin" in p.message for p in problems)


def report_first_level(searcher, trial_id: str, meets_slo: bool, status: str = "running", done: bool = False):
    """``trial_id`` reports a level the simulator measured at 8 users (``meets_slo`` says whether it
    met the SLOs); that level."""
    from autotuner.sim import evaluate_level, plan_memory
    from autotuner.trial.report import TrialReport
    from autotuner.twin.predict import Twin

    twin = Twin(searcher.searcher._guide.spec)
    args = twin.args(searcher.searcher._ot_trials[trial_id].params)
    level = evaluate_level(args, "D(128,32)", 8, twin.sizing(8), plan=plan_memory(args)).to_level_result()
    report = TrialReport(level=1, gpus=1, score=level.output_tok_s, feasible=True, violation=0.0, score_bound=None,
                         boundary=(("D(128,32)", 8),), status=status, reason="", done=done, measured=level,
                         meets_slo=meets_slo)
    searcher.on_trial_result(trial_id, {**report.to_tune(), "training_iteration": 1})
    return level


def first_trial_measured(spec, status: str = "running", done: bool = False):
    """A twin-guided searcher whose first trial reported one level the simulator measured at 8 users,
    which missed the SLOs: (searcher, that level)."""
    searcher = make_searcher(spec)
    searcher.set_search_properties("score", "max", {})
    searcher.suggest("t0")
    return searcher, report_first_level(searcher, "t0", meets_slo=False, status=status, done=done)


def test_the_first_trial_runs_alone_while_its_first_level_meets_the_slos():
    """Where the twin is right, the first trial's score is the bar the next ones start against."""
    searcher = make_searcher(task(initial=False))
    searcher.set_search_properties("score", "max", {})
    start = twin_start(task(initial=False))
    assert start.first_alone and ("the first alone while its first level meets the SLOs or the twin, calibrated on its "
                                  "levels, still ranks it first") in start.line()
    assert engine_args(searcher.suggest("t0")) == dict(start.points[0])
    assert searcher.suggest("t1") is None  # its first level is to come
    report_first_level(searcher, "t0", meets_slo=True)
    assert searcher.suggest("t1") is None
    report_first_level(searcher, "t0", meets_slo=False)  # a later level decides nothing
    assert searcher.suggest("t1") is None
    searcher.on_trial_complete("t0", done(5000.0))
    assert searcher.suggest("t1") is not None
    # without the twin, or with the task's own initial configs, every slot fills at once
    for spec in (task("none", initial=False), task()):
        searcher = make_searcher(spec)
        searcher.set_search_properties("score", "max", {})
        assert searcher.suggest("t0") is not None and searcher.suggest("t1") is not None


def test_after_a_failed_first_level_the_first_trial_stays_alone_while_the_calibrated_twin_ranks_it_first(monkeypatch):
    """Where the twin is off, calibrated on the first trial's levels it may still rank that trial
    first among the start configs waiting; once it ranks another first, every slot fills for good."""
    searcher = make_searcher(task(initial=False, gpus=3))
    searcher.set_search_properties("score", "max", {})
    searcher.suggest("t0")
    first = config_key(searcher.searcher._ot_trials["t0"].params)
    others = {"score": 900.0}  # the calibrated prediction of every other config; the first's is 1000
    monkeypatch.setattr(searcher.searcher._guide, "predict", lambda config: SimpleNamespace(
        score=1000.0 if config_key(config) == first else others["score"]))
    report_first_level(searcher, "t0", meets_slo=False)
    assert searcher.suggest("t1") is None
    others["score"] = 1100.0
    assert searcher.suggest("t1") is not None
    others["score"] = 900.0  # a later refit ranks it first again: the slots stay open
    assert searcher.suggest("t2") is not None
    # a single start config (a quarter of 4 trials): nothing waits to rank it against, the slots fill
    searcher = make_searcher(task(initial=False, trials=4))
    searcher.set_search_properties("score", "max", {})
    searcher.suggest("t0")
    report_first_level(searcher, "t0", meets_slo=False)
    assert searcher.searcher._waiting_points() == [] and searcher.suggest("t1") is not None


def test_each_reported_level_reaches_the_calibration():
    searcher, _ = first_trial_measured(task())
    veto = searcher.searcher._guide
    assert len(veto.observations) == 1 and veto.observations[0][1].concurrency == 8


def unknown_model_task():
    """A real engine serving a model the simulator has no facts of (the simulator refuses such a task)."""
    data = task().model_dump(mode="json")
    data["model"] = {"name": "my-org/custom-7b", "params_billion": 7, "num_attention_heads": 32,
                     "path": "/models/custom-7b", "tokenizer": "/models/custom-7b"}
    data["engine"]["local"]["command"] = "engine"
    return require_valid(data)


def test_a_task_the_simulator_cannot_model_runs_without_the_twin_and_says_why():
    said = []
    searcher = make_searcher(unknown_model_task(), announce=said.append)
    assert searcher.searcher._guide is None and searcher.searcher._points_to_evaluate == [INITIAL]
    assert len(said) == 1 and said[0].startswith("twin: off") and "my-org/custom-7b" in said[0]


def test_plan_of_a_task_the_simulator_cannot_model_is_an_error(tmp_path):
    import json
    import subprocess
    import sys

    from tests.twin.test_cli_plan import REPO

    (tmp_path / "task.yaml").write_text(json.dumps(unknown_model_task().model_dump(mode="json")))
    done = subprocess.run([sys.executable, "-m", "autotuner.cli", "plan", str(tmp_path / "task.yaml")], cwd=REPO,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 1 and "cannot model" in done.stderr and "my-org/custom-7b" in done.stderr


def test_the_calibrated_twin_proposes_its_best_untried_configs_while_they_can_win():
    from autotuner.sim import plan_memory
    from autotuner.sim.cost import StepCost
    from autotuner.twin.guide import PROPOSAL_DIFFERENCES, PROPOSALS
    from autotuner.twin.plan import differences, rank
    from autotuner.twin.predict import Model, Twin
    from autotuner.twin.steady import Calibration, SteadyLevelModel

    spec = task()
    said = []
    start = twin_start(spec)
    guide = TwinGuide(spec, protected={config_key(INITIAL)}, candidates=start.screened, announce=said.append)
    assert guide.proposal(set(), 0.0) is None  # nothing measured yet: the twin's start configs run first
    slower = Calibration(decode=1.8, prefill=1.3)
    twin = Twin(spec)
    plan = plan_memory(twin.args(INITIAL))
    world = SteadyLevelModel(plan, StepCost(plan, slower.scale))
    for load in (4, 16, 48):
        guide.observe_level(INITIAL, world.level("D(128,32)", load, twin.sizing(load)))
    first = guide.proposal({config_key(start.points[0])}, 0.0)
    calibrated = rank([Twin(spec, guide.calibration).predict(c, Model.STEADY) for c in start.screened])
    expected = [{k: v for k, v in p.config.items() if k in SPACE} for p in calibrated]
    expected = [p for p in expected if config_key(p) not in {config_key(INITIAL), config_key(start.points[0])}]
    assert first == expected[0] and said[-1].startswith("twin: proposing ")
    assert guide.calibration.decode == pytest.approx(1.8, rel=0.2)
    second = guide.proposal({config_key(first)}, 0.0)
    assert second is not None and second != first
    # nothing predicted to come near what the best trial is sure of: the sampler proposes
    assert guide.proposal(set(), 100 * guide.predict(first).score) is None
    while guide.proposal(set(), 0.0) is not None:
        pass
    # at most PROPOSALS, each 2+ parameters from every earlier one: in this small space fewer remain
    picks = [{k: v for k, v in c.items() if k in SPACE} for c, _ in guide.proposed]
    assert 2 < len(guide.proposed) <= PROPOSALS
    assert all(differences(a, b) >= PROPOSAL_DIFFERENCES for i, a in enumerate(picks) for b in picks[:i])


def test_the_searcher_deploys_the_twins_proposal_next():
    spec = task()
    searcher, level = first_trial_measured(spec, status="done", done=True)
    searcher.on_trial_complete("t0", done(level.output_tok_s))
    guide = searcher.searcher._guide
    proposed = []
    for i in range(1, 4):
        proposed.append(searcher.suggest(f"t{i}"))
        searcher.on_trial_complete(f"t{i}", done(level.output_tok_s))
    assert [c for c, _ in guide.proposed]  # the calibrated twin proposed, and its configs were deployed
    assert {config_key({**spec.engine.fixed, **engine_args(p)}) for p in proposed} >= {config_key(c) for c, _ in guide.proposed}
    # the proposals start at the calibrated discrete-event simulator's boundary load
    twins = [p for p in proposed if config_key(engine_args(p)) in guide.predicted]
    assert twins and all(TrialDirective.of_config(p).loads == guide.predicted[config_key(engine_args(p))].boundary
                         for p in twins)


def test_a_guide_saved_before_a_field_was_added_resumes_with_it_empty():
    import pickle

    guide = TwinGuide(task(), protected={config_key(INITIAL)})
    state = dict(guide.__dict__)
    del state["predicted"]  # as a searcher saved by the version before the twin's start loads
    old = TwinGuide.__new__(TwinGuide)
    old.__setstate__(state)
    assert old.predicted == {} and old.protected == {config_key(INITIAL)}
    assert old.first_loads(INITIAL) == dict(guide.predict(INITIAL).boundary)
    assert pickle.loads(pickle.dumps(guide)).protected == guide.protected

"""``plan_task`` on small task specs: ranking, start-up failures, rejections, effects, cost. No Ray."""

from __future__ import annotations

import json
from unittest.mock import ANY

import pytest

from autotuner.sim.version import simulator_version
from autotuner.task.load import require_valid
from autotuner.twin.plan import LABEL, diversified, plan_task, render_plan
from autotuner.twin.predict import ConfigPrediction, Model, Outcome

TASK = {
    "name": "twin-plan",
    "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "served_name": "llama"},
    "engine": {"backend": "local", "gpu": "H100", "gpus_per_node": 8, "local": {"command": "simulator"}},
    "search": {"space": {
        "tp_size": {"choices": [1, 2, 4]},
        "mem_fraction_static": {"choices": [0.15, 0.85, 0.99]},
        "max_running_requests": {"choices": [4, 128]},
        "disable_cuda_graph": {"choices": [False, True]},
    }},
    "workload": {"scenarios": ["D(128,32)"], "load": {"min": 1, "max": 256, "start": 8},
                 "requests_per_level": 16, "requests_per_user": 3},
    "objective": {"slo": {"ttft_p90_s": 0.25, "tpot_p90_s": 0.03}},
    "budget": {"trials": 10, "gpus": 2},
    "remeasure": {"configs": 2, "repeats": 3},
}


@pytest.fixture(scope="module")
def plan():
    return plan_task(require_valid(TASK))


def test_the_whole_small_space_is_screened_and_its_best_confirmed(plan):
    assert plan.screened == 36 and not plan.sampled and plan.simulator == simulator_version()
    assert plan.best and all(p.model is Model.SIMULATOR for p in plan.best)
    scores = [p.score for p in plan.best]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    top = plan.best[0]
    assert top.config["max_running_requests"] == 128 and top.config["mem_fraction_static"] == 0.85
    assert dict(top.boundary)["D(128,32)"] > 16


def test_configs_that_cannot_start_say_why(plan):
    reasons = [(f.outcome, f.count, f.reason, f.example) for f in plan.cannot_start]
    assert (Outcome.REJECTED, 12, "tp_size*dp_size=4 exceeds the campaign's 2 GPU slots", ANY) in reasons
    weights = next(r for r in reasons if "weights need" in r[2])  # mem 0.15 at tp 1: no room for the weights
    assert weights[0] is Outcome.REJECTED and weights[1] == 4 and weights[3]["mem_fraction_static"] == 0.15
    oom = next(r for r in reasons if r[0] is Outcome.STARTUP_FAILED)  # mem 0.99: nothing left outside the pool
    assert oom[1] == 8 and "OutOfMemoryError" in oom[2] and oom[3]["mem_fraction_static"] == 0.99
    assert plan.outcomes == {"ok": 12, "rejected": 16, "startup failed": 8}


def test_parameter_effects_rank_what_matters(plan):
    by_name = {e.name: e for e in plan.effects}
    assert set(by_name) == set(TASK["search"]["space"])
    assert by_name["mem_fraction_static"].spread == pytest.approx(1.0)  # 0.99 never starts
    assert by_name["tp_size"].spread == pytest.approx(1.0)  # tp 4 is never deployed
    assert 0.3 < by_name["max_running_requests"].spread < 1
    assert [e.name for e in plan.effects][-1] == "disable_cuda_graph"  # graphs matter least here
    assert all(0 <= e.spread <= 1 for e in plan.effects)


def test_campaign_cost_counts_trials_start_up_and_re_measurement(plan):
    cost = plan.cost
    assert cost.trials == 10 and cost.search_gpu_h == pytest.approx(10 * cost.mean_trial_gpu_h)
    assert cost.remeasure_gpu_h > 0 and 0 < cost.startup_share < 1
    assert cost.total_gpu_h == pytest.approx(cost.search_gpu_h + cost.remeasure_gpu_h)


def test_text_and_json_are_labelled_predictions(plan):
    text = render_plan(plan)
    assert text.startswith(LABEL) and plan.simulator in text and "GPU-hours" in text
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["label"] == LABEL and data["simulator"] == plan.simulator
    assert data["best"][0]["model"] == "simulator" and data["best"][0]["outcome"] == "ok"


def _ok(score: float, **config) -> ConfigPrediction:
    return ConfigPrediction(config, Outcome.OK, Model.STEADY, 1, 10.0, score=score)


def test_diversified_skips_near_copies_of_a_better_config_then_fills_up():
    ranked = [_ok(100, a=1, b=1, c=1), _ok(99, a=1, b=1, c=2), _ok(98, a=2, b=2, c=1), _ok(97, a=1, b=2, c=2)]
    assert [p.score for p in diversified(ranked, 2)] == [100, 98]
    assert [p.score for p in diversified(ranked, 4)] == [100, 98, 97, 99]


def test_to_confirm_adds_the_best_config_of_each_value_of_each_parameter():
    from autotuner.twin.plan import to_confirm

    ranked = [_ok(100, tp=2, chunk=8192), _ok(99, tp=2, chunk=4096), _ok(98, tp=2, chunk=2048),
              _ok(90, tp=1, chunk=4096), _ok(80, tp=1, chunk=8192),
              ConfigPrediction({"tp": 4, "chunk": 8192}, Outcome.STARTUP_FAILED, Model.STEADY, 4, 10.0)]
    # the best 1, tp=1's best (90), chunk 4096's (99) and 2048's (98); tp=4 cannot start: no best
    assert [p.score for p in to_confirm(ranked, ["tp", "chunk"], 1)] == [100, 99, 98, 90]
    # a long range counts in stretches: one best per sixth of its values, not one per value
    long = [_ok(200 - v, mem=v) for v in range(60)]
    assert [p.config["mem"] for p in to_confirm(long, ["mem"], 1)] == [0, 10, 20, 30, 40, 50]

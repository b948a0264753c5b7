"""Scoring trials: goodput per GPU under SLOs, infeasible trials below every feasible one."""

from autotuner.bench.result import LevelResult
from autotuner.objective import (STARTUP_FAILED_SCORE, SLO, GoodputPerGpu, LatencyAtConcurrency,
                                 objective_from_spec)
from autotuner.spec import ObjectiveSpec


def level(c, tok_s, ttft, tpot, err=0.0, all_failed=False):
    return LevelResult(scenario="D(100,100)", concurrency=c, num_requests=100, num_completed=100,
                       num_errors=int(err * 100), error_rate=err, duration_s=10, output_tok_s=tok_s,
                       input_tok_s=tok_s, requests_per_s=1, ttft_p90_s=ttft, tpot_p90_s=tpot,
                       e2e_p90_s=None if ttft is None else ttft + 100 * tpot, all_failed=all_failed)


SLO_ = SLO(ttft_p90_s=1.0, tpot_p90_s=0.05, max_error_rate=0.01)


def test_best_level_meeting_slo_per_gpu():
    levels = [level(1, 100, 0.1, 0.01), level(8, 800, 0.3, 0.02), level(64, 3000, 2.0, 0.04)]
    score = GoodputPerGpu(SLO_).score(levels, gpus=2)
    assert score.feasible and score.best_level == 1 and score.value == 400
    assert score.per_level == (True, True, False)


def test_infeasible_scores_negative_and_closer_is_higher():
    obj = GoodputPerGpu(SLO_)
    far = obj.score([level(1, 100, 5.0, 0.01)], gpus=1)
    near = obj.score([level(1, 100, 1.2, 0.01)], gpus=1)
    assert not far.feasible and far.value < near.value < 0
    assert "p90 TTFT" in near.note
    assert obj.score([], gpus=1).value == STARTUP_FAILED_SCORE < far.value


def test_errors_and_all_failed_levels_break_slo():
    obj = GoodputPerGpu(SLO_)
    assert not obj.score([level(1, 100, 0.1, 0.01, err=0.3)], 1).feasible
    assert "every request failed" in obj.score([level(1, 0, None, None, all_failed=True)], 1).note


def test_latency_objective_uses_target_level_or_latest_below():
    obj = LatencyAtConcurrency("ttft_p90_s", 8, SLO_)
    early = obj.score([level(1, 100, 0.2, 0.01)], 1)
    assert early.value == -0.2 and "proxy" in early.note
    full = obj.score([level(1, 100, 0.2, 0.01), level(8, 100, 0.5, 0.01)], 1)
    assert full.value == -0.5 and full.best_level == 1


def test_objective_from_spec():
    assert isinstance(objective_from_spec(ObjectiveSpec()), GoodputPerGpu)
    lat = objective_from_spec(ObjectiveSpec(kind="latency", latency_concurrency=4))
    assert isinstance(lat, LatencyAtConcurrency) and lat.concurrency == 4

"""Scoring trials: goodput per GPU at the SLO boundary, bounds for early stopping, infeasibility as a constraint."""

import dataclasses
import math

import pytest

from autotuner.bench.result import LevelResult
from autotuner.trial.objective import SLO, GoodputPerGpu, LatencyAtConcurrency, objective_from_spec
from autotuner.task.spec import ObjectiveSpec


def level(c, tok_s, ttft, tpot, err=0.0, all_failed=False, scenario="D(100,100)"):
    return LevelResult(scenario=scenario, concurrency=c, num_requests=100, num_completed=100,
                       num_errors=int(err * 100), error_rate=err, duration_s=10, output_tok_s=tok_s,
                       input_tok_s=tok_s, requests_per_s=1, ttft_p90_s=ttft, tpot_p90_s=tpot,
                       e2e_p90_s=None if ttft is None else ttft + 100 * tpot, all_failed=all_failed)


SLO_ = SLO(ttft_p90_s=1.0, tpot_p90_s=0.05, max_error_rate=0.01)


def test_best_level_meeting_slo_per_gpu():
    levels = [level(1, 100, 0.1, 0.01), level(8, 800, 0.3, 0.02), level(64, 3000, 2.0, 0.04)]
    score = GoodputPerGpu(SLO_).score(levels, gpus=2)
    assert score.feasible and score.best_level == 1 and score.value == 400
    assert score.per_level == (True, True, False) and score.violation == 0


def test_the_score_goes_on_to_where_the_latency_crosses_its_limit():
    """p90 TTFT 0.8 s at 10 users, 1.2 s at 11: the 1 s limit is crossed half way, where the
    goodput is half way from 1000 to 1100 tok/s. The boundary load stays the passing one."""
    levels = [level(10, 1000, 0.8, 0.02), level(11, 1100, 1.2, 0.02)]
    score = GoodputPerGpu(SLO_).score(levels, gpus=1)
    assert score.feasible and score.value == pytest.approx(1050) and score.best_level == 0
    # two configs 2% apart in latency at 10 users score 2% apart, not one user (10%) apart
    just_over = GoodputPerGpu(SLO_).score([level(9, 900, 0.82, 0.02), level(10, 1000, 1.02, 0.02)], gpus=1)
    assert just_over.value == pytest.approx(990)


@pytest.mark.parametrize("failing, why", [
    (level(16, 1600, 1.2, 0.02), "more than 25% above the passing load: a straight line would overstate"),
    (dataclasses.replace(level(11, 300, 1.2, 0.02), ended_early="ended after 20 requests"), "ended early"),
    (level(11, 0, None, None, all_failed=True), "every request failed"),
    (level(11, 900, 1.2, 0.02), "made less than the passing level"),
])
def test_no_crossing_from_a_failing_level_that_says_nothing_about_where(failing, why):
    score = GoodputPerGpu(SLO_).score([level(10, 1000, 0.8, 0.02), failing], gpus=1)
    assert score.value == pytest.approx(1000), why


def test_the_crossing_starts_from_the_highest_passing_load_and_never_lowers_the_best():
    levels = [level(5, 1200, 0.3, 0.02), level(10, 1000, 0.8, 0.02), level(11, 1100, 1.2, 0.02)]
    assert GoodputPerGpu(SLO_).score(levels, gpus=1).value == pytest.approx(1200)
    levels = [level(8, 800, 0.5, 0.02), level(10, 1000, 0.8, 0.02), level(11, 1100, 1.2, 0.02)]
    assert GoodputPerGpu(SLO_).score(levels, gpus=1).value == pytest.approx(1050)


def test_bound_from_a_passing_load_below_the_first_failing_one():
    # Little's law: between c=8 (400/GPU) and the failing c=16, at most 16/8 of 400.
    score = GoodputPerGpu(SLO_).score([level(8, 800, 0.3, 0.02), level(16, 1700, 1.5, 0.03)], gpus=2)
    assert score.value == 400 and score.bound == pytest.approx(800)
    assert "meets the SLOs at c=8" in score.bound_note and "breaks them at c=16" in score.bound_note


def test_bound_without_a_passing_load_is_the_failing_levels_throughput():
    score = GoodputPerGpu(SLO_).score([level(32, 900, 1.8, 0.02)], gpus=1)
    assert not score.feasible and score.value == 0 and score.bound == 900
    assert "breaks the SLOs at c=32 (p90 TTFT 1800ms > 1000ms) where it makes 900" in score.bound_note


def test_a_failing_level_measured_low_is_vouched_for_by_a_higher_failing_load():
    """c=10 cannot make less than 10/12 of what c=12 made (its latency is no higher): a slow
    outlier at c=10 does not pull the bound below that."""
    score = GoodputPerGpu(SLO_).score([level(12, 1200, 1.8, 0.02), level(10, 800, 1.5, 0.02)], gpus=1)
    assert score.bound == pytest.approx(1000)
    assert "breaks the SLOs at c=10" in score.bound_note and "at least 1000 going by c=12" in score.bound_note
    plain = GoodputPerGpu(SLO_).score([level(12, 1200, 1.8, 0.02), level(10, 1050, 1.5, 0.02)], gpus=1)
    assert plain.bound == pytest.approx(1050) and "going by" not in plain.bound_note


def test_a_level_ended_early_bounds_by_its_load_never_by_its_part_of_a_levels_throughput():
    ended = dataclasses.replace(level(16, 300, 1.5, 0.03), ended_early="ended after 20 requests: ...")
    score = GoodputPerGpu(SLO_).score([level(8, 800, 0.3, 0.02), ended], gpus=2)
    assert score.bound == pytest.approx(800)  # 16/8 of c=8's 400/GPU, as for a full level
    assert math.isinf(GoodputPerGpu(SLO_).score([ended], gpus=1).bound)
    vouching = GoodputPerGpu(SLO_).score([level(10, 1000, 1.5, 0.02), dataclasses.replace(ended, output_tok_s=3000)], 1)
    assert vouching.bound == pytest.approx(1000) and "going by" not in vouching.bound_note


def test_no_bound_until_a_level_fails_and_noise_below_a_pass_is_ignored():
    obj = GoodputPerGpu(SLO_)
    assert math.isinf(obj.score([level(8, 800, 0.3, 0.02)], 1).bound)
    noisy = obj.score([level(16, 1500, 1.2, 0.02), level(24, 2000, 0.9, 0.02)], 1)  # fails at 16, passes at 24
    assert noisy.feasible and noisy.value == 2000 and math.isinf(noisy.bound)


def test_infeasible_is_a_constraint_not_a_negative_score():
    obj = GoodputPerGpu(SLO_)
    far = obj.score([level(1, 100, 5.0, 0.01)], gpus=1)
    near = obj.score([level(1, 100, 1.2, 0.01)], gpus=1)
    assert not far.feasible and far.value == near.value == 0
    assert far.violation > near.violation > 0 and "p90 TTFT" in near.note
    assert obj.score([], gpus=1).violation > far.violation


def test_errors_and_all_failed_levels_break_slo():
    obj = GoodputPerGpu(SLO_)
    assert not obj.score([level(1, 100, 0.1, 0.01, err=0.3)], 1).feasible
    assert "every request failed" in obj.score([level(1, 0, None, None, all_failed=True)], 1).note


def test_several_scenarios_score_the_weakest():
    levels = [level(8, 800, 0.3, 0.02, scenario="A"), level(8, 300, 0.3, 0.02, scenario="B"),
              level(16, 500, 2.0, 0.02, scenario="B")]
    score = GoodputPerGpu(SLO_).score(levels, gpus=1)
    assert score.value == 300 and score.bound == pytest.approx(600) and "B meets" in score.bound_note
    assert not GoodputPerGpu(SLO_).score([*levels, level(1, 10, 9.0, 0.02, scenario="C")], 1).feasible


def test_latency_objective_ranks_any_feasible_trial_above_any_infeasible_one():
    obj = LatencyAtConcurrency("e2e_p90_s", 8, SLO_)
    slow_but_clean = obj.score([level(8, 100, 12.0, 0.01)], 1)  # p90 e2e 13 s: slow, within the error budget
    broken = obj.score([level(8, 100, 0.1, 0.01, err=0.5)], 1)
    assert slow_but_clean.feasible and slow_but_clean.value == pytest.approx(-13.0)
    assert not broken.feasible and broken.violation > 0 and slow_but_clean.violation == 0


def test_objective_from_spec():
    assert isinstance(objective_from_spec(ObjectiveSpec()), GoodputPerGpu)
    lat = objective_from_spec(ObjectiveSpec(kind="latency", latency_concurrency=4))
    assert isinstance(lat, LatencyAtConcurrency) and lat.concurrency == 4


def test_every_objective_kind_the_spec_allows_is_registered():
    import typing

    from autotuner.trial.objective import OBJECTIVES
    from autotuner.task.spec import ObjectiveSpec

    assert set(OBJECTIVES) == set(typing.get_args(ObjectiveSpec.model_fields["kind"].annotation))

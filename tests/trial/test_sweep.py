"""A trial's levels: the load search, the fixed sweep, the re-measurement, and what each report says."""

import pytest

from autotuner.bench.fail_fast import FailFast
from autotuner.bench.result import LevelResult
from autotuner.trial.objective import SLO, GoodputPerGpu
from autotuner.task.load import require_valid
from autotuner.trial.directive import TrialDirective
from autotuner.trial.sweep import (FixedSweepPlan, LoadSearchPlan, RepeatPlan, RequestSizing,
                             TrialSweep, fail_fast_for, final_report, mean_level, plan_for_trial,
                             remeasure_summary)

SLO_ = SLO(ttft_p90_s=1.0, tpot_p90_s=0.05)


def level(c, tok_s, ttft=0.2, tpot=0.01, scenario="D(100,100)"):
    return LevelResult(scenario=scenario, concurrency=c, num_requests=3 * c, num_completed=3 * c, num_errors=0,
                       error_rate=0.0, duration_s=10, output_tok_s=tok_s, input_tok_s=tok_s, requests_per_s=1,
                       ttft_p90_s=ttft, tpot_p90_s=tpot, e2e_p90_s=ttft + 1)


def task(**workload):
    return require_valid({"name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
                          "search": {"space": {"tp_size": {"choices": [1, 2]}}},
                          "workload": {"scenarios": ["D(100,100)"], **workload}})


def test_every_user_sends_the_same_number_of_requests():
    sizing = RequestSizing(minimum=50, per_user=3)
    assert [sizing(c) for c in (1, 7, 16, 40)] == [50, 56, 64, 120]
    assert all(sizing(c) % c == 0 for c in range(1, 300))


def test_load_search_plan_starts_at_the_hint_scaled_to_the_trials_gpus():
    spec = task(load={"min": 1, "max": 256, "start": 8})
    plan = plan_for_trial(spec, TrialDirective(), 2, SLO_, {"D(100,100)": 12.0})
    assert isinstance(plan, LoadSearchPlan)
    first = plan.next_level([])
    assert (first.concurrency, first.max_requests) == (24, 72) and "best trial" in first.note
    assert plan_for_trial(spec, TrialDirective(), 1, SLO_).next_level([]).note == "start"


def test_without_a_best_trial_the_load_search_starts_at_the_twins_predicted_boundary():
    spec = task(load={"min": 1, "max": 256, "start": 8, "resolution": 0.1})
    twin = TrialDirective.search_from({"D(100,100)": 90})
    plan = plan_for_trial(spec, twin, 2, SLO_)
    first = plan.next_level([])
    assert first.concurrency == 90 and first.note == "start at the twin's predicted boundary load"
    # the twin was right: one step of the resolution above it fails, and the boundary is located
    assert plan.next_level([level(90, 9000)]).concurrency == 99
    assert plan.next_level([level(90, 9000), level(99, 9100, ttft=2.0)]) is None
    # it was off: the step down is as large as p90 TTFT's ratio to its limit (at least 10%) ...
    assert [plan.next_level([level(90, 9000, ttft=t)]).concurrency for t in (2.0, 1.3, 1.05)] == [45, 69, 82]
    # ... where TTFT binds: TPOT levels off past saturation, so its ratio says little about the load
    assert plan.next_level([level(90, 9000, ttft=1.3, tpot=0.1)]).concurrency == 82
    # from the best trial's boundary instead, the steps double (10%, 20%, 40%) whatever the latency
    hint = plan_for_trial(spec, TrialDirective(), 2, SLO_, {"D(100,100)": 45.0})
    down = [level(90, 9000, ttft=2.0), level(82, 8200, ttft=2.0), level(68, 6800, ttft=2.0)]
    assert [hint.next_level(down[:n]).concurrency for n in (1, 2, 3)] == [82, 68, 49]
    # the best trial's boundary comes first: there one level tells whether the config can win
    hinted = plan_for_trial(spec, twin, 2, SLO_, {"D(100,100)": 12.0}).next_level([])
    assert hinted.concurrency == 24 and "best trial" in hinted.note
    assert TrialDirective.of_config(twin.into({"tp_size": 2})) == twin and not twin.remeasures


def test_with_early_stopping_a_level_above_a_passing_one_may_end_once_it_provably_fails():
    spec = task(load={"min": 1, "max": 256, "start": 8})
    plan = plan_for_trial(spec, TrialDirective(), 1, SLO_, {"D(100,100)": 8.0})
    check = FailFast((("ttft", 1.0), ("tpot", 0.05)))
    assert plan.next_level([]).fail_fast is None  # its throughput may be the trial's bound
    assert plan.next_level([level(8, 800, ttft=2.0)]).fail_fast is None  # going down: no pass below yet
    assert plan.next_level([level(8, 800)]).fail_fast == check
    assert plan.next_level([level(8, 800, ttft=2.0), level(4, 400)]).fail_fast == check
    off = spec.model_copy(update={"search": spec.search.model_copy(update={"early_stopping": "none"})})
    assert plan_for_trial(off, TrialDirective(), 1, SLO_).next_level([level(8, 800)]).fail_fast is None
    assert fail_fast_for(SLO(ttft_p90_s=1.0)) == FailFast((("ttft", 1.0),)) and fail_fast_for(SLO()) is None


def test_the_sweep_reports_score_bound_boundary_and_done():
    sweep = TrialSweep(plan_for_trial(task(load={"min": 1, "max": 64, "start": 16, "resolution": 0.5}),
                                      TrialDirective(), 1, SLO_),
                       GoodputPerGpu(SLO_), gpus=1)
    seen = []
    while (request := sweep.next_level()) is not None:
        c = request.concurrency
        sweep.add(level(c, 100.0 * c, ttft=0.5 if c <= 24 else 2.0))
        seen.append(sweep.report())
    assert [r.measured.concurrency for r in seen] == [16, 32, 23]  # 32 is within 50% of 23: located
    last = seen[-1]
    assert last.done and last.status == "done" and last.feasible and last.score == 2300
    assert last.boundary == (("D(100,100)", 23),) and last.score_bound == pytest.approx(2300 * 32 / 23)
    assert seen[0].score_bound is None and not seen[0].done


def test_fixed_sweep_runs_every_listed_level_in_order():
    plan = plan_for_trial(task(concurrency=[4, 1, 16]), TrialDirective(), 1, SLO_)
    assert isinstance(plan, FixedSweepPlan)
    levels = []
    while (request := plan.next_level(levels)) is not None:
        levels.append(level(request.concurrency, 1.0))
    assert [lv.concurrency for lv in levels] == [4, 1, 16]


def test_repeats_step_down_until_their_mean_meets_the_slos():
    plan = RepeatPlan((("D(100,100)", 40),), repeats=3, sizing=RequestSizing(10, 3), slo=SLO_, resolution=0.1)
    levels = []
    while (request := plan.next_level(levels)) is not None:
        c = request.concurrency
        # at 40 two of three repeats pass, but their mean TTFT (1.1 s) does not, in three batches
        # (the repeats disagree: two more run there): the load steps down 5%
        ttft = [0.9, 0.95, 1.45][len(levels) % 3] if c == 40 else 0.8
        levels.append(level(c, 10.0 * c, ttft=ttft))
    assert [lv.concurrency for lv in levels] == [40] * 9 + [38] * 3
    accepted = plan.accepted(levels)["D(100,100)"]
    assert [lv.concurrency for lv in accepted] == [38, 38, 38]
    assert mean_level(accepted).ttft_p90_s == pytest.approx(0.8)


def test_repeats_that_disagree_run_again_at_their_load_before_their_mean_decides():
    """Three repeats at 40 users split (one breaks the 1 s TTFT limit): three more, still split,
    three more; the mean of the nine meets the limit, and the step up to 42 fails unanimously."""
    directive = TrialDirective.remeasure("s1", {"D(100,100)": 40}, repeats=3)
    sweep = TrialSweep(plan_for_trial(task(), directive, 1, SLO_), GoodputPerGpu(SLO_), gpus=1)
    ttft_at_40 = [0.9, 0.95, 1.25, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    while (request := sweep.next_level()) is not None:
        c = request.concurrency
        sweep.add(level(c, 10.0 * c, ttft=ttft_at_40[len(sweep.levels)] if c == 40 else 1.2))
    assert [lv.concurrency for lv in sweep.levels] == [40] * 9 + [42] * 3
    report = sweep.report()
    assert (report.remeasured_repeats, report.remeasured_passed) == (9, 8)
    assert report.remeasured_loads == (("D(100,100)", 40),)
    # unanimous repeats decide at once; without more_when_split, three split ones decide too
    plan = RepeatPlan((("D(100,100)", 40),), repeats=3, sizing=RequestSizing(10, 3), slo=SLO_, more_when_split=0)
    split = [level(40, 400.0, ttft=t) for t in (0.9, 0.95, 1.45)]
    assert plan.next_level(split).concurrency == 38


def test_repeats_step_up_while_their_mean_meets_the_slos_as_on_a_latency_plateau():
    def walk(ttft_at):
        plan = RepeatPlan((("D(100,100)", 40),), repeats=3, sizing=RequestSizing(10, 3), slo=SLO_, resolution=0.1,
                          max_load=50)
        levels = []
        while (request := plan.next_level(levels)) is not None:
            levels.append(level(request.concurrency, 10.0 * request.concurrency, ttft=ttft_at(request.concurrency)))
        return [lv.concurrency for lv in levels], [lv.concurrency for lv in plan.accepted(levels)["D(100,100)"]]

    # flat at the limit: up 5% twice (steps_up), the answer at the highest load whose mean met the SLOs
    assert walk(lambda c: 0.99) == ([40] * 3 + [42] * 3 + [45] * 3, [45] * 3)
    # a steep latency: one step up fails on average, the boundary load stands
    assert walk(lambda c: 0.9 if c <= 40 else 1.2) == ([40] * 3 + [42] * 3, [40] * 3)
    # never above the task's highest load
    plan = RepeatPlan((("D(100,100)", 48),), repeats=1, sizing=RequestSizing(10, 3), slo=SLO_, max_load=50)
    assert plan.next_level([level(48, 480.0, ttft=0.5)]) is None


def test_a_near_miss_at_the_boundary_load_tries_the_load_above_before_stepping_down():
    """A mean p90 TTFT 2% over its 1 s limit at the boundary load (40) may be a flat edge, where
    the load above meets the limit (the ground truth scans such plateaus): 41 runs first."""
    def walk(ttft_at, load=40, **plan_args):
        plan = RepeatPlan((("D(100,100)", load),), repeats=3, sizing=RequestSizing(10, 3), slo=SLO_, resolution=0.1,
                          **plan_args)
        levels = []
        while (request := plan.next_level(levels)) is not None:
            levels.append(level(request.concurrency, 10.0 * request.concurrency, ttft=ttft_at(request.concurrency)))
        return [lv.concurrency for lv in levels], [lv.concurrency for lv in plan.accepted(levels)["D(100,100)"]]

    flat = {40: 1.02, 41: 0.97, 44: 1.01, 10: 1.02, 11: 0.97}  # alternating around the limit, then over it
    assert walk(lambda c: flat.get(c, 1.2 if c > 40 else 0.9)) == ([40] * 3 + [41] * 3 + [44] * 3, [41] * 3)
    # the load above misses too: down from the boundary load, as without the try
    assert walk(lambda c: 1.02 if c >= 40 else 0.9) == ([40] * 3 + [41] * 3 + [38] * 3, [38] * 3)
    # a clear miss (10% over) steps down at once; nor does a plan that may not go above its loads try
    assert walk(lambda c: 1.1 if c >= 40 else 0.9) == ([40] * 3 + [38] * 3, [38] * 3)
    assert walk(lambda c: flat.get(c, 0.9), steps_up=0) == ([40] * 3 + [38] * 3, [38] * 3)
    assert walk(lambda c: flat.get(c, 0.9), max_load=40) == ([40] * 3 + [38] * 3, [38] * 3)
    # where one user is a whole step of the walk (20 users or fewer at 10% resolution), it steps down
    assert walk(lambda c: flat.get(c, 0.9), load=10) == ([10] * 3 + [9] * 3, [9] * 3)


def test_a_remeasurement_of_listed_loads_never_steps_above_them():
    directive = TrialDirective.remeasure("s1", {"D(100,100)": 4}, repeats=1)
    plan = plan_for_trial(task(concurrency=[1, 4]), directive, 1, SLO_)
    assert isinstance(plan, RepeatPlan) and plan.steps_up == 0
    assert plan.next_level([level(4, 40.0, ttft=0.5)]) is None


def test_a_remeasurement_reports_the_mean_of_its_repeats_where_they_cross_the_slos():
    """Each repeat at the accepted load (p90 TTFT 0.9 s against 1 s) goes half the way towards the
    same repeat at the failed load above (1.1 s), where it made 1200 tok/s."""
    directive = TrialDirective.remeasure("s1", {"D(100,100)": 10}, repeats=3)
    sweep = TrialSweep(plan_for_trial(task(), directive, 1, SLO_), GoodputPerGpu(SLO_), gpus=1)
    for tok_s in (900.0, 1000.0, 1100.0):
        assert sweep.next_level().concurrency == 10
        sweep.add(level(10, tok_s, ttft=0.9))
    for _ in range(3):  # one step up (5%, at least one user), where the mean breaks the TTFT SLO
        assert sweep.next_level().concurrency == 11
        sweep.add(level(11, 1200.0, ttft=1.1))
    report = sweep.report()
    assert report.done and report.feasible and report.score == pytest.approx(1100)
    assert (report.remeasured_min, report.remeasured_max) == (pytest.approx(1050), pytest.approx(1150))
    assert report.remeasured_passed == 3 and report.remeasured_loads == (("D(100,100)", 10),)


def test_a_remeasurement_that_stepped_down_crosses_towards_the_load_it_left():
    directive = TrialDirective.remeasure("s1", {"D(100,100)": 10}, repeats=1)
    plan = plan_for_trial(task(), directive, 1, SLO_)
    levels = [level(10, 1000.0, ttft=1.2), level(9, 900.0, ttft=0.8)]
    assert plan.next_level(levels) is None
    assert [lv.concurrency for lv in plan.failed_above(levels)["D(100,100)"]] == [10]
    assert remeasure_summary(plan, levels, gpus=1)["remeasured_mean"] == pytest.approx(950)


def test_a_remeasurement_capped_at_its_steps_up_has_no_crossing():
    plan = RepeatPlan((("D(100,100)", 10),), repeats=1, sizing=RequestSizing(10, 3), slo=SLO_, steps_up=1)
    levels = [level(10, 1000.0, ttft=0.5), level(11, 1100.0, ttft=0.6)]
    assert plan.next_level(levels) is None and plan.failed_above(levels) == {"D(100,100)": []}
    assert remeasure_summary(plan, levels, gpus=1)["remeasured_mean"] == pytest.approx(1100)


def test_final_report_of_a_trial_without_levels():
    sweep = TrialSweep(plan_for_trial(task(), TrialDirective(), 2, SLO_), GoodputPerGpu(SLO_), gpus=2)
    report = final_report(sweep, "rejected", "too big")
    assert report.to_tune() == {"level": 0, "gpus": 2, "score": 0.0, "feasible": False, "violation": 10.0,
                                "score_bound": None, "bound_note": "", "boundary": [], "status": "rejected",
                                "reason": "too big", "done": True, "best_level": -1}

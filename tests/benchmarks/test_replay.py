"""The replay drives the campaign's real searcher and ASHA scheduler the way Tune does."""

from __future__ import annotations

import pytest

from autotuner.results import DONE, FAILED, STOPPED_EARLY, TrialRecord, pick_best
from benchmarks.baselines import AutoTuneSearcher, GridSearcher
from benchmarks.ground_truth import STARTUP_FAILED, TrialOutcome
from benchmarks.metrics import Incumbent, trajectory
from benchmarks.replay import READY, ReplayError, StartOnly, TrialRun, replay_campaign
from benchmarks.strategies import STRATEGIES
from benchmarks.trial_cost import GENAI_BENCH_START_S, LEVEL_OVERHEAD_S, trial_timeline

from .conftest import made_up_truth, ok


def asha(surface):
    """The campaign's ASHA for the quick surface (3 levels: rungs at levels 1 and 2)."""
    from autotuner.campaign import _scheduler

    scheduler = _scheduler(surface.task)
    scheduler.set_search_properties("score", "max")
    return scheduler


def fifo():
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def test_asha_stops_below_the_rung_median(quick_surface):
    a, b, c = ({"tp_size": 1, "max_running_requests": n} for n in (1, 2, 3))
    truth = made_up_truth(quick_surface, [ok(a, [100, 200, 300]), ok(b, [50, 60, 70]), ok(c, [150, 10, 10])])

    runs = replay_campaign(truth, GridSearcher([a, b, c]), asha(quick_surface), slots=1, budget=3)

    # b: 50 < median{a: 100} at rung 1. c: 150 > median{100, 50} at rung 1, then max(150, 10) < 200 at rung 2.
    assert [(r.levels_run, r.status) for r in runs] == [(3, DONE), (1, STOPPED_EARLY), (2, STOPPED_EARLY)]
    assert [r.score for r in runs] == [300, 50, 150]


def test_trials_follow_their_timeline_one_slot_at_a_time(quick_surface):
    a, b = {"tp_size": 1, "max_running_requests": 1}, {"tp_size": 1, "max_running_requests": 2}
    truth = made_up_truth(quick_surface, [ok(a, [100, 200, 300]), ok(b, [100, 200, 300], startup_s=7.0)])

    first, second = replay_campaign(truth, GridSearcher([a, b]), fifo(), slots=1, budget=2)

    assert first.start_s == 0 and first.end_s == pytest.approx(20 + GENAI_BENCH_START_S + 3 * (10 + LEVEL_OVERHEAD_S))
    assert second.start_s == first.end_s
    assert second.bench_start_s == pytest.approx(second.start_s + 7.0)


def test_a_trial_waits_until_its_gpus_are_free(quick_surface):
    big, small = {"tp_size": 2, "max_running_requests": 1}, {"tp_size": 1, "max_running_requests": 1}
    truth = made_up_truth(quick_surface, [ok(big, [100, 100, 100], gpus=2), ok(small, [100, 100, 100])])

    runs = {r.key: r for r in replay_campaign(truth, GridSearcher([big, small]), fifo(), slots=2, budget=2)}

    big_run, small_run = (runs[k] for k in truth.outcomes)
    assert small_run.start_s == big_run.end_s  # both proposed at once; 1 GPU is not free before
    assert big_run.gpu_seconds() == pytest.approx(2 * big_run.end_s)


def test_a_searcher_that_proposes_nothing_is_an_error(quick_surface):
    class Silent(GridSearcher):
        def suggest(self, trial_id):
            return None

    truth = made_up_truth(quick_surface, [ok({"tp_size": 1}, [1, 1, 1])])
    with pytest.raises(ReplayError):
        replay_campaign(truth, Silent([]), fifo(), slots=1, budget=1)


def test_start_only_holds_the_gpus_for_the_start_up_only(quick_truth):
    outcome = next(o for o in quick_truth.outcomes.values() if o.status == "ok")
    assert trial_timeline(outcome, 2, start_only=True).report_at == (outcome.startup_s,)


def test_auto_tune_lowers_the_memory_until_a_server_starts_then_sweeps(quick_surface, quick_truth):
    from benchmarks.strategies import _auto_tune

    searcher, scheduler = _auto_tune(quick_surface, 0, 100)
    runs = replay_campaign(quick_truth, searcher, scheduler, slots=2, budget=100)

    # The probes use the largest values: 0.96 cannot hold 16384-token prefill activations.
    assert [(r.config["mem_fraction_static"], r.start_only, r.status) for r in runs[:2]] == [
        (0.96, True, FAILED), (0.92, True, READY)]
    assert [(r.config["max_running_requests"], r.config["chunked_prefill_size"]) for r in runs[2:]] == [
        (32, 4096), (32, 16384), (128, 4096), (128, 16384)]
    assert all(r.config["mem_fraction_static"] == 0.92 and not r.start_only for r in runs[2:])
    assert all(later.start_s == earlier.end_s for earlier, later in zip(runs, runs[1:]))  # one server at a time


def test_auto_tune_gives_up_when_no_fraction_starts():
    searcher = AutoTuneSearcher({"tp_size": 1}, [0.9, 0.8], [8], [1024])
    for _ in range(2):
        proposal = searcher.suggest("t")
        assert isinstance(proposal, StartOnly) and searcher.suggest("u") is None
        searcher.on_trial_complete("t", {"status": FAILED})
    assert searcher.suggest("t") == "FINISHED"


def test_incumbent_is_pick_best(quick_surface):
    def run(i, status, score, feasible):
        r = TrialRun(str(i), str(i), {}, 1, False, trial_timeline(ok({}, [1, 1, 1]), 2))
        r.status, r.score, r.feasible = status, score, feasible
        return r

    runs = [run(0, STOPPED_EARLY, 500, True), run(1, DONE, 300, True), run(2, DONE, 900, False),
            run(3, FAILED, -100, False), run(4, DONE, 400, True), run(5, STOPPED_EARLY, 800, True)]
    incumbent = Incumbent()
    for n, r in enumerate(runs, 1):
        incumbent.add(r)
        records = [TrialRecord(x.trial_id, {}, status=x.status, score=x.score, feasible=x.feasible) for x in runs[:n]]
        expected = pick_best(records)
        assert (incumbent.best.trial_id if incumbent.best else None) == (expected.trial_id if expected else None)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
def test_every_strategy_replays_on_the_quick_surface(quick_surface, quick_truth, strategy):
    searcher, scheduler = strategy.build(quick_surface, 0, 12)
    runs = replay_campaign(quick_truth, searcher, scheduler, slots=quick_surface.task.budget.gpus, budget=12)

    assert 0 < len(runs) <= 12
    points = trajectory(quick_truth, runs)
    assert all(0.0 <= p.gap <= 1.0 for p in points)
    assert [p.gpu_h for p in points] == sorted(p.gpu_h for p in points)
    assert all(p.bench_gpu_h <= p.gpu_h + 1e-12 for p in points)


def test_the_ground_truth_has_every_kind_of_config(quick_truth):
    counts = quick_truth.counts()
    assert counts["configs"] == 96 and counts["feasible"] > 0 and counts["slo_missed"] > 0
    assert counts[STARTUP_FAILED] > 0
    assert quick_truth.optimum == max(quick_truth.full_scores.values())
    failed = next(o for o in quick_truth.outcomes.values() if o.status == STARTUP_FAILED)
    assert isinstance(failed, TrialOutcome) and failed.startup_s > 0 and not failed.levels

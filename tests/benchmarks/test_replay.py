"""The replay drives the campaign's own searcher, scheduler, load search and answer the way Tune does."""

from __future__ import annotations

import pytest
from ray.tune.schedulers import FIFOScheduler

from autotuner.results.records import TrialStatus
from benchmarks.baselines import AutoTuneSearcher, GridSearcher
from benchmarks.ground_truth import STARTUP_FAILED, ConfigTruth
from benchmarks.metrics import trajectory
from benchmarks.noise import NO_NOISE, NoiseModel
from benchmarks.replay import READY, ReplayError, StartOnly, replay_campaign, replay_with_answer
from benchmarks.strategies import STRATEGIES
from benchmarks.trial_cost import GENAI_BENCH_START_S, LEVEL_START_S

from .conftest import linear, made_up_truth

A, B, C = ({"tp_size": 1, "mem_fraction_static": m, "max_running_requests": 32, "chunked_prefill_size": 4096,
            "disable_cuda_graph": False, "kv_cache_dtype": "auto"} for m in (0.84, 0.92, 0.96))  # the quick space's


def ours(surface, initial_configs, slots=1, trials=3):
    """The campaign's searcher and scheduler for ``surface`` with these configs first."""
    from autotuner.search import make_searcher
    from autotuner.stopping import EarlyStopping

    spec = surface.task.model_copy(update={
        "search": surface.task.search.model_copy(update={"initial_configs": initial_configs}),
        "budget": surface.task.budget.model_copy(update={"gpus": slots, "trials": trials})})
    scheduler = EarlyStopping.from_spec(spec).scheduler()
    scheduler.set_search_properties("score", "max")
    return make_searcher(spec), scheduler


def test_a_worse_config_is_stopped_at_the_best_trials_boundary_load(quick_surface):
    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 1), (B, linear(60, 30), 1)])
    searcher, scheduler = ours(quick_surface, [A, B])

    best, worse = replay_campaign(truth, searcher, scheduler, slots=1, budget=2, noise=NO_NOISE, seed=0,
                                  load_hint=True)

    [(_, found)] = best.last["boundary"]
    assert best.status == TrialStatus.DONE and 40 / 1.1 <= found <= 40 and best.levels_run > 3  # located to 10%
    # B starts at A's boundary, breaks the SLO there making 60 tok/s per user where A made 100: one level
    assert worse.status == TrialStatus.STOPPED_EARLY and worse.levels_run == 1
    assert [lv.concurrency for lv in worse.sweep.levels] == [found]


@pytest.mark.parametrize("early_stopping", [True, False])
def test_with_early_stopping_a_level_above_a_passing_one_ends_once_it_provably_fails(quick_surface, early_stopping):
    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 1)])
    searcher, scheduler = ours(quick_surface, [A], trials=1)

    [run] = replay_campaign(truth, searcher, scheduler, slots=1, budget=1, noise=NO_NOISE, seed=0,
                            load_hint=early_stopping)

    above_a_pass = [lv for i, lv in enumerate(run.sweep.levels)
                    if any(p.concurrency < lv.concurrency and p.tpot_p90_s <= 0.008 for p in run.sweep.levels[:i])
                    and lv.tpot_p90_s > 0.008]
    [(_, found)] = run.last["boundary"]
    assert above_a_pass and 40 / 1.1 <= found <= 40  # located as well either way
    ended = [lv for lv in run.sweep.levels if lv.ended_early]
    if early_stopping:
        assert ended == above_a_pass and all(lv.duration_s < 10.0 for lv in ended)
        assert all(lv.ended_early.startswith(f"ended after {lv.num_requests} requests: p90 TPOT") for lv in ended)
    else:
        assert ended == [] and all(lv.duration_s == 10.0 for lv in run.sweep.levels)


def test_a_better_config_is_never_stopped(quick_surface):
    truth = made_up_truth(quick_surface, [(A, linear(60, 30), 1), (B, linear(100, 40), 1)])
    searcher, scheduler = ours(quick_surface, [A, B])

    first, better = replay_campaign(truth, searcher, scheduler, slots=1, budget=2, noise=NO_NOISE, seed=0,
                                    load_hint=True)

    [(_, found)] = better.last["boundary"]
    assert better.status == TrialStatus.DONE and 40 / 1.1 <= found <= 40 and better.score == pytest.approx(100 * found)


def test_a_trial_that_waited_for_gpus_starts_at_the_best_load_known_when_it_gets_them(quick_surface):
    # Both proposed at once (2 slots); B waits for A's 2 GPUs and starts at A's boundary per GPU.
    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 2), (B, linear(60, 15), 1)])
    searcher, scheduler = ours(quick_surface, [A, B], slots=2)

    first, waited = replay_campaign(truth, searcher, scheduler, slots=2, budget=2, noise=NO_NOISE, seed=0,
                                    load_hint=True)

    [(_, found)] = first.last["boundary"]
    assert waited.start_s == first.end_s
    assert waited.sweep.levels[0].concurrency == round(found / 2)
    assert waited.status == TrialStatus.STOPPED_EARLY and waited.levels_run == 1


def test_levels_follow_their_measured_time_and_a_trial_waits_for_its_gpus(quick_surface):
    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 2), (B, linear(100, 40), 1)], startup_s=3.0)

    big, small = replay_campaign(truth, GridSearcher([A, B]), FIFOScheduler(), slots=2, budget=2, noise=NO_NOISE,
                                 seed=0)

    assert big.start_s == 0 and big.bench_start_s == GENAI_BENCH_START_S  # genai-bench's imports outlast 3 s
    assert big.end_s == pytest.approx(GENAI_BENCH_START_S + big.levels_run * (10 + LEVEL_START_S))
    assert small.start_s == big.end_s  # both proposed at once; 1 GPU is not free before
    assert big.gpu_seconds() == pytest.approx(2 * big.end_s)


def test_the_answer_is_the_best_mean_after_the_remeasurement(quick_surface):
    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 1), (B, linear(90, 40), 1), (C, linear(80, 40), 1)])

    campaign = replay_with_answer(truth, GridSearcher([A, B, C]), FIFOScheduler(), slots=2, budget=3,
                                  noise=NoiseModel(), seed=1)

    assert len(campaign.remeasure) == 3 and all(r.status == TrialStatus.DONE for r in campaign.remeasure)
    assert all(r.last["remeasured_repeats"] in (3, 6, 9) for r in campaign.remeasure)  # 6, 9: where they disagreed
    answer = next(r for r in campaign.search if r.trial_id == campaign.answer.search.trial_id)
    assert answer.key == truth.best_keys()[0] and campaign.answer.remeasured
    assert min(r.start_s for r in campaign.remeasure) >= max(r.end_s for r in campaign.search)


def test_a_searcher_that_proposes_nothing_is_an_error(quick_surface):
    class Silent(GridSearcher):
        def suggest(self, trial_id):
            return None

    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 1)])
    with pytest.raises(ReplayError):
        replay_campaign(truth, Silent([]), FIFOScheduler(), slots=1, budget=1, noise=NO_NOISE, seed=0)


def test_auto_tune_lowers_the_memory_until_a_server_starts_then_sweeps(quick_surface, quick_truth):
    from benchmarks.strategies import _auto_tune

    searcher, scheduler = _auto_tune(quick_surface, 0, 100)[:2]
    runs = replay_campaign(quick_truth, searcher, scheduler, slots=2, budget=100, noise=NO_NOISE, seed=0)

    # The probes use the largest values: 0.96 cannot hold 16384-token prefill activations.
    assert [(r.config["mem_fraction_static"], r.start_only, r.status) for r in runs[:2]] == [
        (0.96, True, TrialStatus.FAILED), (0.92, True, READY)]
    assert [(r.config["max_running_requests"], r.config["chunked_prefill_size"]) for r in runs[2:]] == [
        (32, 4096), (32, 16384), (128, 4096), (128, 16384)]
    assert all(r.config["mem_fraction_static"] == 0.92 and not r.start_only for r in runs[2:])
    assert all(later.start_s == earlier.end_s for earlier, later in zip(runs, runs[1:]))  # one server at a time
    assert runs[0].end_s == pytest.approx(quick_truth.truth(runs[0].config).startup_s)  # a probe holds only its start


def test_auto_tune_gives_up_when_no_fraction_starts():
    searcher = AutoTuneSearcher({"tp_size": 1}, [0.9, 0.8], [8], [1024])
    for _ in range(2):
        proposal = searcher.suggest("t")
        assert isinstance(proposal, StartOnly) and searcher.suggest("u") is None
        searcher.on_trial_complete("t", {"status": TrialStatus.FAILED})
    assert searcher.suggest("t") == "FINISHED"


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
def test_every_strategy_replays_on_the_quick_surface(quick_surface, quick_truth, strategy):
    contender = strategy.build(quick_surface, 0, 12)
    runs = replay_campaign(quick_truth, contender.searcher, contender.scheduler, slots=quick_surface.task.budget.gpus,
                           budget=12, noise=NoiseModel(), seed=0, load_hint=contender.load_hint)

    assert 0 < len(runs) <= 12
    points = trajectory(quick_truth, runs)
    assert all(0.0 <= p.gap <= 1.0 for p in points)
    assert [p.gpu_h for p in points] == sorted(p.gpu_h for p in points)
    assert all(p.bench_gpu_h <= p.gpu_h + 1e-12 for p in points)


def test_the_ground_truth_has_every_kind_of_config(quick_surface, quick_truth):
    counts = quick_truth.counts()
    assert counts["configs"] == 96 and counts["feasible"] > 0 and counts["slo_missed"] > 0
    assert counts[STARTUP_FAILED] > 0
    assert quick_truth.optimum == max(c.score for c in quick_truth.configs.values())
    failed = next(c for c in quick_truth.configs.values() if c.status == STARTUP_FAILED)
    assert isinstance(failed, ConfigTruth) and failed.startup_s > 0 and failed.score == 0
    best = quick_truth.configs[quick_truth.best_keys()[0]]
    key = quick_truth.best_keys()[0]
    boundary = best.boundary["D(1024,256)"]
    slo = quick_surface.task.objective.slo
    assert quick_truth.level(key, "D(1024,256)", boundary).tpot_p90_s <= slo.tpot_p90_s
    assert quick_truth.level(key, "D(1024,256)", boundary + 1).tpot_p90_s > slo.tpot_p90_s

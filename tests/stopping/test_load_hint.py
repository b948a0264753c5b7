"""A trial starts its load search at the best boundary load known when it starts, not when proposed."""

from __future__ import annotations

from types import SimpleNamespace

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialRecord
from autotuner.stopping.load_hint import Incumbent, IncumbentFeed, load_hint
from autotuner.task.load import require_valid
from autotuner.trial.directive import TrialDirective

SCENARIO = "D(64,16)"


def test_the_best_feasible_trial_gives_its_boundary_load_per_gpu():
    board = Incumbent()
    assert board.hint() == {}
    board.offer_report({"feasible": False, "score": 0.0, "boundary": []})
    board.offer_report({"feasible": True, "score": 900.0, "boundary": [(SCENARIO, 32)], "gpus": 2})
    assert board.hint() == {SCENARIO: 16.0}
    board.offer_report({"feasible": True, "score": 800.0, "boundary": [(SCENARIO, 4)], "gpus": 1})
    assert board.hint() == {SCENARIO: 16.0}  # a worse trial does not move it
    board.offer(1000.0, [(SCENARIO, 12)], gpus=1)
    assert (board.score, board.hint()) == (1000.0, {SCENARIO: 12.0})


def test_the_feed_seeds_the_board_from_a_resumed_campaign_and_offers_search_reports_only(ray_cluster):
    earlier = [TrialRecord("a", {}, feasible=True, score=500.0, boundary={SCENARIO: 8}, gpus=2),
               TrialRecord("b", {}, phase="remeasure", feasible=True, score=900.0, boundary={SCENARIO: 30}, gpus=1)]
    feed = IncumbentFeed(SimpleNamespace(trials={t.trial_id: t for t in earlier}), "test-incumbent-feed")
    assert load_hint("test-incumbent-feed") == {}  # no board yet: the trial searches from load.start
    feed.setup()
    assert load_hint("test-incumbent-feed") == {SCENARIO: 4.0}

    better = {"feasible": True, "score": 700.0, "boundary": [(SCENARIO, 6)], "gpus": 1}
    feed.on_trial_result(0, [], SimpleNamespace(config=TrialDirective.remeasure("a", {}, 2).into({})), better)
    assert load_hint("test-incumbent-feed") == {SCENARIO: 4.0}
    feed.on_trial_result(0, [], SimpleNamespace(config={"tp_size": 1}), better)
    assert load_hint("test-incumbent-feed") == {SCENARIO: 6.0}


def test_a_trial_that_waited_for_gpus_starts_at_the_boundary_of_the_trial_that_held_them(ray_cluster, tmp_path):
    from autotuner.campaign.driver import run_campaign

    # Both proposed at once (4 GPU slots); the tp=1 trial waits for the tp=4 trial's GPUs.
    big = {"tp_size": 4, "mem_fraction_static": 0.85, "max_running_requests": 32}
    small = {"tp_size": 1, "mem_fraction_static": 0.85, "max_running_requests": 32}
    spec = require_valid({
        "name": "hint", "model": {"name": "meta-llama/Llama-3.2-1B-Instruct"},
        "engine": {"gpu": "H100", "local": {"command": "simulator", "startup_time_scale": 0}},
        "search": {"space": {"tp_size": {"choices": [1, 4]}, "mem_fraction_static": {"choices": [0.85]},
                             "max_running_requests": {"choices": [32]}},
                   "initial_configs": [big, small]},
        # load.start is the largest load: the hint (a boundary <= 32 shared by 4 GPUs) can never equal
        # it, however fast this machine runs the tp=4 trial
        "workload": {"scenarios": [SCENARIO], "load": {"min": 1, "max": 32, "start": 32, "resolution": 0.5},
                     "requests_per_level": 8},
        "remeasure": {"configs": 0},
        "objective": {"slo": {"ttft_p90_s": 2.0, "tpot_p90_s": 0.03}},
        "budget": {"trials": 2, "gpus": 4}, "seed": 1, "output": str(tmp_path / "campaign")})

    _, trials, levels = CampaignFolder(run_campaign(spec).folder).load()

    first, waited = sorted(trials, key=lambda t: t.started)
    assert first.config["tp_size"] == 4 and first.feasible and waited.started >= first.ended
    first_load = next(r for r in levels if r.trial_id == waited.trial_id).concurrency
    assert first_load == max(1, round(first.boundary[SCENARIO] / 4)) < 32

"""The oracle stopping rule, the reference our bound rule is judged by, reads the ground truth right."""

from __future__ import annotations

from autotuner.results.records import TrialStatus
from benchmarks.noise import NO_NOISE
from benchmarks.replay import replay_campaign
from benchmarks.stopping_ceiling import OracleStopping, main

from .conftest import linear, made_up_truth
from .test_replay import A, B, C, ours


def test_the_oracle_stops_a_truly_worse_config_after_one_level_and_keeps_one_within_tolerance(quick_surface):
    # true scores 4000, 3920 (2% lower: could matter) and 1800 (much lower)
    truth = made_up_truth(quick_surface, [(A, linear(100, 40), 1), (B, linear(98, 40), 1), (C, linear(60, 30), 1)])
    searcher, _ = ours(quick_surface, [A, B, C], trials=3)

    best, close, worse = replay_campaign(truth, searcher, OracleStopping(truth), slots=1, budget=3, noise=NO_NOISE,
                                         seed=0, load_hint=True)

    assert best.status == TrialStatus.DONE and close.status == TrialStatus.DONE and close.levels_run > 1
    assert worse.status == TrialStatus.STOPPED_EARLY and worse.levels_run == 1


def test_the_oracle_never_stops_a_config_better_than_the_best_so_far(quick_surface):
    truth = made_up_truth(quick_surface, [(A, linear(60, 30), 1), (B, linear(100, 40), 1)])
    searcher, _ = ours(quick_surface, [A, B], trials=2)

    runs = replay_campaign(truth, searcher, OracleStopping(truth), slots=1, budget=2, noise=NO_NOISE, seed=0,
                           load_hint=True)

    assert [run.status for run in runs] == [TrialStatus.DONE, TrialStatus.DONE]


def test_the_command_prints_each_rule_with_its_saving(capsys):
    # 48 trials: every seed gets within 3% with each rule, so each saving is a figure, not "n/a"
    assert main(["--surface", "quick-llama8b-h100", "--seeds", "3", "--budget", "48"]) == 0

    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "GPU-h" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| none", "| bound rule (ours)", "| oracle (reads the answer)"]
    assert all("%" in row for row in rows[1:])

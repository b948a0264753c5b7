"""The CLI's live lines."""

import io
from types import SimpleNamespace

from autotuner.bench.result import LevelResult
from autotuner.results.progress import ProgressPrinter, describe_level
from autotuner.task.space import describe_config
from autotuner.trial.directive import TrialDirective
from autotuner.trial.report import TrialReport


def test_describe_config_is_short_and_ignores_non_engine_keys():
    text = describe_config({"tp_size": 2, "mem_fraction_static": 0.8512, "schedule_policy": "lpm", "__x": 1})
    assert text == "tp=2 mem=0.851 policy=lpm"


def test_describe_level_shows_the_load_why_it_was_chosen_and_the_slo_state():
    measured = LevelResult("D(100,100)", 8, num_requests=24, num_completed=24, num_errors=0, error_rate=0.0,
                           duration_s=10, output_tok_s=2468.8, input_tok_s=1000, requests_per_s=2.4,
                           ttft_p90_s=0.0412, tpot_p90_s=0.009)
    line = describe_level(TrialReport(level=2, gpus=2, score=0.0, feasible=False, violation=1.0, score_bound=None,
                                      boundary=(), status="running", reason="", measured=measured, meets_slo=False,
                                      load_note="narrow 4-16"), "tok/s/GPU")
    assert line.startswith("level 2 D(100,100) c=8 (narrow 4-16): 1234 tok/s/GPU ttft90 41ms tpot90 9ms")
    assert "SLO missed" in line


def trial(trial_id, config, last=None, gpus=1):
    return SimpleNamespace(trial_id=trial_id, config=config, last_result=last or {}, status="RUNNING",
                           placement_group_factory=SimpleNamespace(required_resources={"GPU": gpus}))


def test_stopped_and_remeasured_trials_say_why_and_how_much():
    out = io.StringIO()
    printer = ProgressPrinter(num_trials=3, unit="tok/s/GPU", stream=out)
    best = trial("a", {"tp_size": 1})
    printer.on_trial_result(0, [], best, {"feasible": True, "score": 2000.0, "status": "running"})
    loser = trial("b", {"tp_size": 2}, {"status": "running", "level": 1, "score_bound": 900.0,
                                        "bound_note": "D breaks the SLOs at c=32"}, gpus=2)
    printer.on_trial_complete(0, [best, loser], loser)
    again = trial("c", TrialDirective.remeasure("a", {"D": 40}, repeats=3).into({"tp_size": 1}),
                  {"status": "done", "remeasured_repeats": 3, "remeasured_passed": 3, "remeasured_mean": 1950.0,
                   "remeasured_min": 1900.0, "remeasured_max": 2010.0})
    printer.on_trial_result(0, [], again, {"feasible": True, "score": 1950.0, "remeasured_repeats": 3})
    printer.on_trial_complete(0, [best, loser, again], again)
    text = out.getvalue()
    assert "trial b stopped early after level 1: it can reach at most 900 tok/s/GPU, below the 2000 the best trial is sure of " \
           "(D breaks the SLOs at c=32)" in text
    assert "trial c re-measured tp=1: mean 1950 [1900-2010] tok/s/GPU, 3/3 repeats met the SLOs" in text
    assert "best 2000 tok/s/GPU (a)" in text  # a re-measurement is not a new best of the search

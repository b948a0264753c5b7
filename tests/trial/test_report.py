"""A trial's report crosses Ray Tune as a dict and comes back the same."""

from autotuner.bench.result import LevelResult
from autotuner.trial.report import TrialReport

LEVEL = LevelResult("D(100,100)", 8, num_requests=24, num_completed=24, num_errors=0, error_rate=0.0, duration_s=10,
                    output_tok_s=2400.0, input_tok_s=1000.0, requests_per_s=2.4, ttft_p90_s=0.2, tpot_p90_s=0.01)


def test_a_level_report_round_trips_through_tunes_dict():
    report = TrialReport(level=2, gpus=2, score=1200.0, feasible=True, violation=0.0, score_bound=1500.0,
                         boundary=(("D(100,100)", 8),), status="running", reason="", bound_note="c=16 broke",
                         best_level=2, measured=LEVEL, meets_slo=True, load_note="grow", engine_startup_s=3.5)
    result = report.to_tune()
    assert result["scenario"] == "D(100,100)" and result["output_tok_s_per_gpu"] == 1200.0
    assert result["boundary"] == [("D(100,100)", 8)] and "error_codes" not in result and "log_tail" not in result
    assert TrialReport.from_tune({**result, "timestamp": 17.0, "training_iteration": 2}) == \
        TrialReport(**{**report.__dict__, "time": 17.0})


def test_a_final_report_has_no_level_and_no_best_level():
    report = TrialReport(level=0, gpus=4, score=0.0, feasible=False, violation=10.0, score_bound=None, boundary=(),
                         status="rejected", reason="too big", done=True, log_tail="OOM")
    result = report.to_tune()
    assert "scenario" not in result and result["best_level"] == -1 and result["log_tail"] == "OOM"
    back = TrialReport.from_tune(result)
    assert back == report and back.measured is None and back.output_tok_s_per_gpu is None


def test_a_remeasurement_keeps_its_spread():
    report = TrialReport(level=3, gpus=1, score=1000.0, feasible=True, violation=0.0, score_bound=None, boundary=(),
                         status="done", reason="", done=True, measured=LEVEL, remeasured_repeats=3,
                         remeasured_passed=3, remeasured_mean=1000.0, remeasured_min=900.0, remeasured_max=1100.0,
                         remeasured_stdev=81.6, remeasured_loads=(("D(100,100)", 8),))
    assert TrialReport.from_tune(report.to_tune()) == report

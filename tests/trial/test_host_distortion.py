"""A level the host distorted: the tolerance, the repeat-then-refuse policy, and what the outputs
say (pure: no Ray, no server)."""

import dataclasses
import io
from types import SimpleNamespace

import pytest

from autotuner.bench.host_lag import ServerLag, distortion, judged
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import (CampaignMeta, CampaignStatus, LevelRow, TrialRecord, TrialStatus,
                                       host_distorted_levels)
from autotuner.results.progress import ProgressPrinter, describe_level
from autotuner.results.report import summary_text
from autotuner.trial.host_distortion import (MARK, MAX_RUNS, distortion_note, measure, refusal_reason, refused, runs_for,
                                             unscored)
from autotuner.trial.report import TrialReport
from serve_app.views import host_distortion_note

LEVEL = LevelResult("D(128,32)", 16, num_requests=64, num_completed=64, num_errors=0, error_rate=0.0,
                    duration_s=4.0, output_tok_s=1400.0, input_tok_s=5600.0, requests_per_s=16.0,
                    ttft_p90_s=0.200, tpot_p90_s=0.010)


def test_within_the_tolerance_or_unmeasured_is_not_distorted():
    assert distortion(LEVEL) == ""  # nothing measured (an OME BenchmarkJob): no verdict
    idle = judged(LEVEL, server_lag=0.004, server_late_s=0.002, client_lag_s=0.003, client_cpu=0.2)
    assert idle.distortion == "" and idle.server_lag == 0.004 and idle.client_cpu == 0.2
    # 5% of a 200 ms p90 TTFT is 10 ms; the 10 ms floor holds under fast TTFTs
    assert judged(LEVEL, client_lag_s=0.0099).distortion == ""
    fast = dataclasses.replace(LEVEL, ttft_p90_s=0.040)
    assert judged(fast, server_late_s=0.009, client_lag_s=0.009).distortion == ""


@pytest.mark.parametrize("numbers, why", [
    ({"server_lag": 0.08}, "the server fell 8% behind its schedule (tolerance 5%)"),
    ({"server_late_s": 0.030}, "the server wrote first tokens 30 ms late on average (tolerance 10 ms)"),
    ({"client_lag_s": 0.025}, "genai-bench's event loop lagged 25 ms at p90 (tolerance 10 ms)"),
    ({"client_cpu": 0.95}, "genai-bench's CPU was busy 95% of the level (tolerance 90%)"),
])
def test_each_measure_beyond_its_tolerance_says_why(numbers, why):
    assert judged(LEVEL, **numbers).distortion == why


def test_the_lag_tolerance_grows_with_the_level_s_ttft():
    slow = dataclasses.replace(LEVEL, ttft_p90_s=1.0)  # 5% of 1 s: 50 ms
    assert judged(slow, client_lag_s=0.040).distortion == ""
    assert "tolerance 50 ms" in judged(slow, client_lag_s=0.060).distortion


def test_server_lag_counters_become_shares_of_the_level():
    before = ServerLag(lag_s=1.0, late_s=0.5, first_tokens=100, replicas=2, read_at=10.0)
    after = ServerLag(lag_s=2.0, late_s=1.1, first_tokens=130, replicas=2, read_at=20.0)
    assert after.share_since(before) == pytest.approx(0.05)  # 1 s behind over 2 replicas x 10 s
    assert after.lateness_since(before) == pytest.approx(0.02)
    assert after.lateness_since(after) == 0.0  # no first token in between


def runs(*distorted: bool):
    """A runner whose successive runs of a level are distorted as listed."""
    made = iter(dataclasses.replace(LEVEL, output_tok_s=1000.0 + i, distortion="the server fell 9% behind" if d else "")
                for i, d in enumerate(distorted))
    asked: list[LevelRequest] = []

    def run(request: LevelRequest) -> LevelResult:
        asked.append(request)
        return next(made)

    return run, asked


def test_an_undistorted_level_runs_once():
    run, asked = runs(False)
    level = measure(run, LevelRequest("D(128,32)", 16, 64))
    assert len(asked) == 1 and level.distorted_runs == 0 and not refused(level) and distortion_note(level) == ""


def test_a_distorted_level_runs_again_and_the_undistorted_run_counts():
    run, asked = runs(True, False)
    request = LevelRequest("D(128,32)", 16, 64, "grow")
    level = measure(run, request)
    assert asked == [request, request]  # the same load again
    assert level.output_tok_s == 1001.0 and level.distorted_runs == 1 and not refused(level)
    assert distortion_note(level) == "host distorted 1 run(s) before this one: run again"


def test_a_level_distorted_in_every_run_is_refused():
    run, asked = runs(*[True] * (MAX_RUNS + 1))
    level = measure(run, LevelRequest("D(128,32)", 16, 64))
    assert len(asked) == MAX_RUNS == 3 and refused(level) and level.distorted_runs == 3
    assert refusal_reason(level, 4) == ("host distorted level 4 (D(128,32) c=16) in all 3 runs: the server fell 9% "
                                        "behind; refused, not scored")
    assert distortion_note(level) == "host distorted all 3 runs: refused"


def test_under_mark_a_distorted_level_runs_once_and_is_scored_marked():
    run, asked = runs(True, False)
    level = measure(run, LevelRequest("D(128,32)", 16, 64), runs_for(MARK))
    assert len(asked) == 1 and level.distortion and level.distorted_runs == 1
    assert not refused(level, MARK) and not unscored(level)
    assert distortion_note(level, MARK) == "host distorted: scored, marked"
    row = LevelRow.from_report("t0", {"tp_size": 1}, report_of(level, meets_slo=False))
    assert row.meets_slo is False and row.distortion
    assert host_distorted_levels([row])[0].done == "scored, marked (workload.host_distortion: mark)"


def report_of(level: LevelResult, meets_slo: bool = True, status: str = "running") -> TrialReport:
    return TrialReport(level=2, gpus=1, score=1200.0, feasible=True, violation=0.0, score_bound=None, boundary=(),
                       status=status, reason="", measured=level, meets_slo=meets_slo, load_note="grow")


def test_a_refused_level_is_neither_a_pass_nor_a_fail_in_the_outputs():
    refused_level = dataclasses.replace(judged(LEVEL, server_lag=0.2), distorted_runs=3)
    again = dataclasses.replace(judged(LEVEL, server_lag=0.01), distorted_runs=1)
    line = describe_level(report_of(refused_level, meets_slo=False), "tok/s/GPU")
    assert "not scored (host distorted)" in line and "SLO missed" not in line
    assert " ok " in describe_level(report_of(again), "tok/s/GPU")

    # through Tune's dict and back, as the driver's callbacks get it
    back = TrialReport.from_tune(report_of(refused_level, status="failed").to_tune())
    assert back.measured == refused_level
    rows = [LevelRow.from_report("t1", {"tp_size": 1}, dataclasses.replace(back, level=3)),
            LevelRow.from_report("t0", {"tp_size": 1}, report_of(again)),
            LevelRow.from_report("t0", {"tp_size": 1}, report_of(LEVEL))]
    assert rows[0].meets_slo is None and rows[0].distorted_runs == 3 and rows[0].server_lag == 0.2
    assert rows[1].meets_slo is True and rows[1].distortion == "" and rows[1].distorted_runs == 1
    listed = host_distorted_levels(rows)
    assert [(d.trial_id, d.level, d.distorted_runs) for d in listed] == [("t0", 2, 1), ("t1", 3, 3)]
    assert listed[0].done == "run again: run 2 was undistorted and counts"
    assert listed[1].done == "refused: not scored, the trial ended there"
    assert listed[1].distortion.startswith("the server fell 20% behind its schedule")

    out = io.StringIO()
    printer = ProgressPrinter(num_trials=2, unit="tok/s/GPU", stream=out)
    trial = SimpleNamespace(trial_id="t1", config={"tp_size": 1})
    failed = dataclasses.replace(back, reason=refusal_reason(refused_level, 3), load_note=distortion_note(refused_level))
    printer.on_trial_result(0, [], trial, failed.to_tune())
    text = out.getvalue()
    assert "(host distorted all 3 runs: refused)" in text and "not scored (host distorted)" in text
    assert "trial t1 failed: host distorted level 3 (D(128,32) c=16) in all 3 runs: the server fell 20% behind" in text

    note = host_distortion_note(SimpleNamespace(levels={"t0": rows[1:], "t1": rows[:1]}))
    assert note.startswith("**The host distorted 2 level(s)**") and "1 stayed distorted: refused, not scored, or scored and marked" in note
    assert "trial `t1` level 3 (D(128,32) c=16): 3 distorted run(s), refused" in note
    assert host_distortion_note(SimpleNamespace(levels={"t0": rows[2:]})) == ""


def test_the_report_lists_the_levels_the_host_distorted(tmp_path):
    folder = CampaignFolder(tmp_path)
    folder.write_levels([LevelRow.from_report("t1", {"tp_size": 1}, report_of(
        dataclasses.replace(judged(LEVEL, client_cpu=0.97), distorted_runs=3), meets_slo=False))])
    folder.write_trials([TrialRecord("t1", {"tp_size": 1}, status=TrialStatus.FAILED)])
    folder.write_meta(CampaignMeta(name="busy", status=CampaignStatus.FINISHED))
    text = summary_text(tmp_path)
    assert "the host distorted 1 level(s) (autotuner/bench/host_lag.py); 1 stayed distorted:" in text
    assert ("trial t1 level 2 D(128,32) c=16: 3 distorted run(s), refused: not scored, the trial ended there "
            "(genai-bench's CPU was busy 97% of the level (tolerance 90%))") in text


def test_the_load_generator_s_lag_is_a_p90_over_the_level_s_time():
    from autotuner.bench.level_server import time_weighted_p90

    quiet = [(0.001, 0.021)] * 100
    assert time_weighted_p90(quiet) == 0.001
    # one stall of a second in a 3 s level: every request then in flight was read a second late
    assert time_weighted_p90([*quiet, (1.0, 1.02)]) == 1.0
    assert time_weighted_p90([*quiet[:95], *[(0.005, 0.025)] * 5]) == 0.001  # a few ms here and there

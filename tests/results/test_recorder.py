"""The recorder, the progress printer and the hub's feed when a resumed run's Tune state is older
than the campaign's tables: a trial the tables record as ended only reports its recorded end
again; its record and level rows stand, and the searcher learns what it learned when it ended.
(The same on a real campaign: tests/results/test_old_folders.py.)"""

import io
from types import SimpleNamespace

from autotuner.bench.result import LevelResult
from autotuner.results.folder import CampaignFolder
from autotuner.results.progress import ProgressPrinter
from autotuner.results.recorder import ResultsRecorder
from autotuner.results.records import TrialStatus, final_reports
from autotuner.search.constrained import learned_value
from autotuner.trial.report import TrialReport

UNIT = "tok/s/GPU"


def trial(trial_id, tp=1):
    return SimpleNamespace(trial_id=trial_id, config={"tp_size": tp, "mem_fraction_static": 0.8}, error_file=None,
                           last_result={}, status="RUNNING",
                           placement_group_factory=SimpleNamespace(required_resources={"GPU": tp}))


def level_report(level, concurrency, *, score, feasible, bound=None, status="running", done=False, violation=0.0):
    measured = LevelResult("D(128,32)", concurrency, num_requests=50, num_completed=50, num_errors=0,
                           error_rate=0.0, duration_s=30.0, output_tok_s=1000.0, input_tok_s=4000.0,
                           requests_per_s=1.5, ttft_p90_s=0.2, tpot_p90_s=0.02, e2e_p90_s=0.9)
    return TrialReport(level=level, gpus=1, score=score, feasible=feasible, violation=violation, score_bound=bound,
                       boundary=(("D(128,32)", concurrency),) if feasible else (), status=status, reason="",
                       done=done, measured=measured, meets_slo=feasible, best_level=level if feasible else None,
                       bound_note="D(128,32) breaks the SLOs at c=16" if bound else "")


def run_trial(callbacks, t, reports):
    for cb in callbacks:
        cb.on_trial_start(0, [t], t)
    for report in reports:
        t.last_result = report.to_tune()
        for cb in callbacks:
            cb.on_trial_result(0, [t], t, t.last_result)
    for cb in callbacks:
        cb.on_trial_complete(0, [t], t)


def test_a_trial_that_ended_before_keeps_its_record_when_an_older_tune_state_restarts_it(tmp_path):
    first = ResultsRecorder(str(tmp_path), UNIT)
    first.setup()
    done, stopped, failed = trial("a"), trial("b", tp=2), trial("c")
    run_trial([first], done, [level_report(1, 8, score=900.0, feasible=True),
                              level_report(2, 16, score=1200.0, feasible=True, status="done", done=True)])
    # stopped by the bound rule after its first level: its last report still ran
    run_trial([first], stopped, [level_report(1, 8, score=0.0, feasible=False, bound=600.0, violation=0.4)])
    run_trial([first], failed, [level_report(1, 8, score=0.0, feasible=False, violation=2.5, status="failed",
                                             done=True)])
    folder = CampaignFolder(tmp_path)
    trials, levels = folder.read_trials(), folder.read_levels()
    assert [t.status for t in trials] == [TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED]
    learned = {t: learned_value(x.last_result) for t, x in (("a", done), ("b", stopped), ("c", failed))}

    # The resumed run: Tune's state saved before these trials ended, so it starts them again.
    replays = final_reports(trials)
    out = io.StringIO()
    recorder = ResultsRecorder(str(tmp_path), UNIT)
    printer = ProgressPrinter(num_trials=4, unit=UNIT, stream=out, folder=str(tmp_path))
    for cb in (recorder, printer):
        cb.setup()
    for t in (done, stopped, failed):
        assert recorder.ended_before(t.trial_id)
        run_trial([recorder, printer], t, [replays[t.trial_id]])
        assert learned_value(t.last_result) == learned[t.trial_id]  # what the searcher learns again
    assert folder.read_trials() == trials and folder.read_levels() == levels
    text = out.getvalue()
    assert text.count("ended in an earlier run: its record stands, not deployed again") == 3
    assert "deploying" not in text and "progress: 3/4 trials ended" in text


def test_a_trial_restarted_before_it_ended_runs_again_from_its_first_level(tmp_path):
    first = ResultsRecorder(str(tmp_path), UNIT)
    first.setup()
    t = trial("a")
    first.on_trial_start(0, [t], t)
    first.on_trial_result(0, [t], t, level_report(1, 8, score=900.0, feasible=True).to_tune())
    # the driver died here: the tables say running
    recorder = ResultsRecorder(str(tmp_path), UNIT)
    recorder.setup()
    assert not recorder.ended_before("a") and final_reports(CampaignFolder(tmp_path).read_trials()) == {}
    recorder.on_trial_start(0, [t], t)
    [rec] = CampaignFolder(tmp_path).read_trials()
    assert rec.status is TrialStatus.DEPLOYING and rec.levels_run == 0 and CampaignFolder(tmp_path).read_levels() == []

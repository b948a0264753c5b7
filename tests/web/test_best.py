"""One "best" for the whole app: the task page's header, its best-config box, the tasks page and
the charts all show the trial the campaign's own rule picks; the box shows the re-measured spread
and provenance when the campaign recorded them."""

import json
import os

import dataclasses

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialRecord, TrialStatus
from serve_app.best import best_config
from serve_app.live import LiveStore
from serve_app.pages.task import best_markdown, summary_markdown
from serve_app.views import axis_limit, best_over_time, chart_view
from tests.web.synthetic import write_synthetic_campaign


def live_store(tmp_path, **kwargs):
    write_synthetic_campaign(tmp_path / "camp", trials=40, status="running", pid=os.getpid(), **kwargs)
    store = LiveStore([tmp_path])
    store.refresh_catalog()
    return store


def test_header_box_and_tasks_page_show_the_same_best_while_trials_run(tmp_path):
    write_synthetic_campaign(tmp_path / "camp", trials=40, running=4, status="running", pid=os.getpid())
    # the highest feasible score belongs to a trial early stopping stopped; the campaign prefers complete trials
    folder = CampaignFolder(tmp_path / "camp")
    rows = folder.read_trials()
    top = max((t for t in rows if t.feasible), key=lambda t: t.score)
    top.status = TrialStatus.STOPPED_EARLY
    folder.write_trials(rows)
    assert any(t.status == TrialStatus.DONE and t.feasible for t in rows)
    store = LiveStore([tmp_path])
    store.refresh_catalog()
    row = store.tasks()[0]
    snap = store.campaign(row.id)
    best = best_config(snap)
    assert best.trial_id != top.trial_id and not best.final
    assert row.best_score == best.score
    header, box = summary_markdown(row, snap, "http://dash"), best_markdown(best)
    assert f"{best.score:.4g} (trial {best.trial_id})" in header and f"objective **{best.score:.4g}**" in box
    assert chart_view(snap).best_line.columns["best"][-1] == best.score


def test_a_live_resume_ignores_the_previous_runs_best_file(tmp_path):
    store = live_store(tmp_path, running=2)
    folder = tmp_path / "camp"
    (folder / "best_config.json").write_text(json.dumps({
        "trial_id": "older", "score": 1.0, "engine_args": {"tp_size": 1}, "gpus": 1,
        "launch_command_line": "python -m sglang.launch_server"}))
    store.refresh_catalog()
    snap = store.campaign(store.tasks()[0].id)
    assert snap.live and best_config(snap).trial_id != "older"


def test_the_box_shows_the_remeasured_spread_and_says_simulated(tmp_path):
    write_synthetic_campaign(tmp_path / "camp", trials=5, status="finished")
    (tmp_path / "camp" / "best_config.json").write_text(json.dumps({
        "trial_id": "t1", "score": 1012.3, "engine_args": {"tp_size": 1, "mem_fraction_static": 0.85}, "gpus": 1,
        "launch_command_line": "python -m sglang.launch_server --tp-size 1",
        "remeasured": {"mean": 1012.3, "min": 985.0, "max": 1040.2, "stdev": 22.1, "repeats": 3},
        "provenance": {"engine": "simulator 0.3.0", "gpu": "H100", "model": "meta-llama/Llama-3.1-8B-Instruct",
                       "tuner": "0.4.0"}}))
    store = LiveStore([tmp_path])
    store.refresh_catalog()
    best = best_config(store.campaign(store.tasks()[0].id))
    text = best_markdown(best)
    assert best.final and "mean 1012 [985-1040] over 3 repeats" in text
    assert "simulated" in text and "engine: simulator 0.3.0" in text and "gpu: H100" in text
    plain = best_markdown(dataclasses.replace(best, remeasured=None, provenance={}))
    assert "re-measured" not in plain and "simulated" not in plain  # both optional


def test_time_axes_start_at_the_campaign_start_and_never_go_negative():
    trials = {f"t{i}": TrialRecord(f"t{i}", {}, status=TrialStatus.DONE, feasible=True, score=float(i),
                                   started=1000.0 + 60 * i, ended=1030.0 + 60 * i) for i in range(5)}
    # a campaign.json whose start an older version overwrote at each resume (after these trials)
    line, scores = best_over_time(trials, started=5000.0)
    assert min(line.columns["minutes"]) >= 0 and min(scores.columns["minutes"]) >= 0
    assert line.columns["best"][-1] == 4.0


def test_a_latency_outlier_is_clipped_with_a_note():
    values = [100.0 + i for i in range(50)] + [60_000.0]
    limit = axis_limit(values, slo=250.0)
    assert 149 < limit.end < 1000 and limit.beyond == 1
    assert "off the chart" in limit.note("TTFT") and "60,000" in limit.note("TTFT")
    whole = axis_limit([100.0 + i for i in range(50)], slo=250.0)
    assert whole.beyond == 0 and whole.end >= 250 and whole.note("TTFT") == ""  # every point and the SLO line
    far = axis_limit([10.0 + i for i in range(50)], slo=2000.0)
    assert 59 <= far.end <= 62  # an SLO far past every point does not squash them

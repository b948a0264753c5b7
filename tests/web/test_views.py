"""What the task page draws stays small at 2,000 trials: the table is paged by the widget and the
charts downsample, keeping the points that matter (Pareto front, best trial)."""

import math

from autotuner.results.records import LevelRow, TrialRecord, TrialStatus
from serve_app.live import LiveStore
from serve_app.views import MAX_SCATTER_POINTS, chart_view, downsample, pareto_front, table_view, trial_status_text
from tests.web.synthetic import write_synthetic_campaign


def test_views_of_2000_trials_are_bounded(tmp_path):
    write_synthetic_campaign(tmp_path / "big", trials=2000, running=5, status="finished")
    store = LiveStore([tmp_path])
    store.refresh_catalog()
    snap = store.campaign(store.tasks()[0].id)
    table = table_view(snap).table
    assert len(table) == 2000 and list(table.columns[:4]) == ["trial", "status", "slots", "score"]
    view = chart_view(snap)
    assert len(view.scatter) <= MAX_SCATTER_POINTS and len(view.pareto) >= 1
    assert len(view.trial_scores) <= 1000 and len(view.curves) == 10
    assert view.importance.columns["param"][-1] in ("mem_fraction_static", "tp_size")  # what drives the score
    best = max(view.trial_scores.columns["score"])
    assert math.isclose(view.best_line.columns["best"][-1], best)


def test_pareto_front_and_downsampling():
    rows = [LevelRow("t", 1, "D(100,100)", 8, ttft_p90_s=t, output_tok_s_per_gpu=v, meets_slo=ok)
            for t, v, ok in [(1, 10, True), (2, 5, True), (3, 30, True), (4, 50, False), (5, 40, True)]]
    assert [r.output_tok_s_per_gpu for r in pareto_front(rows)] == [10, 30, 40]
    assert len(downsample(list(range(100)), 10, keep={99})) <= 11 and 99 in downsample(list(range(100)), 10, keep={99})


def test_status_words():
    def trial(status, **fields):
        return TrialRecord("t", {}, status=status, **fields)

    assert trial_status_text(trial(TrialStatus.RUNNING, levels_run=1)) == "loading level 2"
    assert trial_status_text(trial(TrialStatus.STOPPED_EARLY, levels_run=2)) == "stopped early after level 2"
    assert trial_status_text(trial(TrialStatus.STOPPED_EARLY, levels_run=1, reason="it can reach at most 90")) \
        == "it can reach at most 90"
    failed = trial(TrialStatus.FAILED, reason="start-up failed: OOM")
    assert trial_status_text(failed) == "failed: start-up failed: OOM"
    assert trial_status_text(trial(TrialStatus.DEPLOYING)) == "deploying"


def test_a_trial_row_links_its_engine_log_and_its_ray_actor():
    from serve_app.views import trial_links

    trial = TrialRecord("6b1e_00003", {}, actor_id="6bccb013")
    links = trial_links("quickstart-1a2b3c", trial, "http://127.0.0.1:8265")
    assert 'href="api/tasks/quickstart-1a2b3c/trials/6b1e_00003/engine.log"' in links
    assert 'href="http://127.0.0.1:8265/#/actors/6bccb013"' in links
    assert "actor" not in trial_links("c", TrialRecord("t", {}), "http://127.0.0.1:8265")  # a row from before
    assert "actor" not in trial_links("c", trial, "")  # no dashboard known

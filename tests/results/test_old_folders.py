"""Campaign folders written by an earlier version still load, report, show on the web app's Tasks
and task pages, and resume. Made by commit 148968d (tests/data/, their trials/ logs left out):
old-quickstart, a 2-trial variant of examples/quickstart.yaml run to the end; old-stopped, a
4-trial one on one GPU slot whose driver got SIGTERM after its first trial (its lock left out)."""

import json
import shutil
from pathlib import Path

import pytest

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignStatus, LevelRow, TrialRecord, TrialStatus
from autotuner.trial.directive import Phase
from autotuner.results.report import summary_text
from serve_app.best import best_config
from serve_app.live import LiveStore
from serve_app.views import chart_view, table_view

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def finished(tmp_path) -> Path:
    return Path(shutil.copytree(DATA / "old-quickstart", tmp_path / "ws" / "old-quickstart"))


def test_a_finished_folder_of_148968d_loads_typed(finished):
    folder = CampaignFolder(finished)
    meta, trials, levels = folder.load()
    assert meta.status is CampaignStatus.FINISHED and meta.id == "old-quickstart-5240df" and len(meta.runs) == 1
    assert [t.phase for t in trials].count(Phase.SEARCH) == 2 and [t.phase for t in trials].count(Phase.REMEASURE) == 1
    assert {t.status for t in trials} == {TrialStatus.DONE, TrialStatus.STOPPED_EARLY}
    assert {lv.trial_id for lv in levels} == {t.trial_id for t in trials}
    best = folder.read_best()
    assert best.trial_id == meta.best_trial and best.score == meta.best_score and best.remeasured.repeats == 1
    assert best.launch_command_line.startswith("python -m sglang.launch_server") and best.levels
    spec, problems = folder.read_spec()
    assert spec is not None and not problems
    text = summary_text(finished)
    assert f"answer: trial {best.trial_id}" in text and "(finished): 2 search trials" in text


def test_a_finished_folder_of_148968d_shows_on_the_tasks_and_task_pages(finished):
    store = LiveStore([finished.parent])
    store.refresh_catalog()
    [row] = store.tasks()
    assert (row.name, row.status, row.trials_ended, row.budget_trials) == ("old-quickstart", "finished", 2, 2)  # search trials only (its re-measurement ran one more)
    snap = store.campaign(row.id)
    best = best_config(snap)
    assert best.final and row.best_score == best.score == CampaignFolder(finished).read_meta().best_score
    assert len(table_view(snap).table) == 3 and len(chart_view(snap).scatter) >= 2


def test_resuming_a_finished_folder_of_148968d_runs_nothing(finished):
    from autotuner.campaign.driver import run_campaign_file

    result = run_campaign_file(finished / "spec.yaml", resume=True, output=str(finished))
    assert result.already_finished and result.status is CampaignStatus.FINISHED
    assert result.best.trial_id == CampaignFolder(finished).read_meta().best_trial


def test_a_stopped_folder_of_148968d_shows_as_resumable_and_its_tune_state_restores(tmp_path):
    """Resuming restores Tune's saved state, which names the modules of 148968d
    (autotuner/campaign/moved_modules.py): it unpickles into today's classes."""
    import pickle

    from ray import tune

    from autotuner.campaign.start import StartMode, start_mode
    from autotuner.campaign.moved_modules import alias_moved_modules
    from autotuner.results.recorder import ResultsRecorder

    folder = CampaignFolder(shutil.copytree(DATA / "old-stopped", tmp_path / "ws" / "old-stopped"))
    meta, trials, _ = folder.load()
    assert meta.status is CampaignStatus.STOPPED and meta.stop_signal == "SIGTERM"
    assert [t.status for t in trials if t.status is TrialStatus.DONE] == [TrialStatus.DONE]
    store = LiveStore([folder.path.parent])
    store.refresh_catalog()
    [row] = store.tasks()
    assert row.status == "stopped" and row.can_resume and row.budget_trials == 4
    snap = store.campaign(row.id)
    assert {t.status for t in snap.trials.values()} <= {TrialStatus.DONE, TrialStatus.INTERRUPTED}
    assert start_mode(folder, meta, trials_started=folder.has_trials(), resume=True, same_task=True,
                      can_restore=tune.Tuner.can_restore(str(folder.tune_dir))) == StartMode.RESTORE
    alias_moved_modules()
    state = pickle.loads((folder.tune_dir / "tuner.pkl").read_bytes())
    assert any(isinstance(c, ResultsRecorder) for c in state["_run_config"].callbacks)


def test_a_stopped_folder_of_148968d_resumes_to_the_end_where_it_now_lies(ray_cluster, tmp_path):
    """Copied away from where it ran: the resumed run writes this folder, not the one its saved
    Tune state names. And a trial that the tables record as ended while Tune's saved state has it
    unfinished (the save lost the race with ``ray job stop``'s SIGKILL, 3 s after its SIGTERM, or
    the driver crashed) is not deployed again: its record and levels stand."""
    from autotuner.campaign.driver import run_campaign_file

    folder = CampaignFolder(shutil.copytree(DATA / "old-stopped", tmp_path / "old-stopped"))
    [done] = folder.read_trials()
    late = ended_after_tunes_last_save(folder, "057504a9")
    result = run_campaign_file(folder.spec_path, resume=True, output=str(folder.path))
    meta, trials, levels = folder.load()
    assert result.status is CampaignStatus.FINISHED and meta.status is CampaignStatus.FINISHED
    assert [run.resume for run in meta.runs] == [False, True]  # its id is this folder's (a hash of its path)
    searched = [t for t in trials if t.phase == Phase.SEARCH]
    assert len(searched) == 4 and all(t.status in (TrialStatus.DONE, TrialStatus.STOPPED_EARLY) for t in searched)
    assert next(t for t in trials if t.trial_id == done.trial_id).levels_run == done.levels_run  # not run again
    assert next(t for t in trials if t.trial_id == late.trial_id) == late
    assert [lv for lv in levels if lv.trial_id == late.trial_id] == late_levels(late)
    assert not (folder.trial_dir(late.trial_id) / "engine.log").exists()
    assert result.best is not None and result.best == folder.read_best()
    assert {lv.trial_id for lv in levels} == {t.trial_id for t in trials}


def ended_after_tunes_last_save(folder: CampaignFolder, trial_id: str) -> TrialRecord:
    """Record in the tables that ``trial_id``, which Tune's saved state has still pending, ended
    (3 levels, infeasible from the third), as if Tune's last save had lost the race with its end."""
    [state] = folder.tune_dir.glob("experiment_state-*.json")
    configs = {json.loads(t)["trial_id"]: json.loads(t)["config"] for t, _ in json.loads(state.read_text())["trial_data"]}
    rec = TrialRecord(trial_id, configs[trial_id], status=TrialStatus.DONE, gpus=1, levels_run=3, score=612.5,
                      feasible=True, violation=0.0, best_level=2, boundary={"D(128,32)": 24}, started=1796282100.0,
                      ended=1796282190.0, engine_startup_s=12.0)
    folder.write_trials([*folder.read_trials(), rec])
    folder.write_levels([*folder.read_levels(), *late_levels(rec)])
    return rec


def late_levels(rec: TrialRecord) -> list[LevelRow]:
    return [LevelRow(rec.trial_id, k, "D(128,32)", c, load_note=note, gpus=1, meets_slo=k < 3, score=score,
                     feasible=True, time=1796282100.0 + 30 * k, output_tok_s=score * 1.1, config=rec.config)
            for k, c, note, score in ((1, 8, "start", 400.0), (2, 24, "grow", 612.5), (3, 48, "grow", 612.5))]

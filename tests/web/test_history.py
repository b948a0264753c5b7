"""History comes back from the campaign folders' Parquet files when the hub, Serve or the cluster
restarted, the hub's fresher entries overlay it while a run is live, and the rows of a run that
is gone never stay "running"."""

import dataclasses
import os
import subprocess
import sys

from autotuner.campaign.lock import LockOwner
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignMeta, CampaignRun, CampaignStatus, TrialStatus
from serve_app.catalog import job_folder
from serve_app.history import campaign_is_live
from serve_app.jobs import JobInfo
from serve_app.live import LiveStore
from serve_app.views import table_view, trial_status_text
from tests.web.synthetic import write_synthetic_campaign


class FakeHub:
    """Answers every campaign asked for with the same entries (epoch 1, seq = their number)."""

    def __init__(self, entries, folders=None):
        self.entries, self.asked, self._folders = entries, [], folders or {}

    def changes(self, since):
        self.asked.append(dict(since))
        return {cid: (1, len(self.entries), self.entries) for cid in since}

    def folders(self):
        return self._folders


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def store_for(root, jobs=None, hub=None) -> LiveStore:
    store = LiveStore([root], jobs=jobs, hub=hub)
    store.refresh_catalog()
    return store


def test_a_run_that_is_gone_shows_interrupted_rows(tmp_path):
    write_synthetic_campaign(tmp_path / "crashed", trials=20, running=3, status="running", pid=dead_pid())
    store = store_for(tmp_path)
    [row] = store.tasks()
    snap = store.campaign(row.id)
    assert row.status == snap.status == "interrupted" and not snap.live
    statuses = [t.status for t in snap.trials.values()]
    assert TrialStatus.RUNNING not in statuses and statuses.count(TrialStatus.INTERRUPTED) == 3
    interrupted = next(t for t in snap.trials.values() if t.status == TrialStatus.INTERRUPTED)
    assert interrupted.reason and snap.levels[interrupted.trial_id]  # its levels are kept
    assert "interrupted at level" in trial_status_text(interrupted)
    assert (tmp_path / "crashed" / "trials.parquet").exists()  # nothing is rewritten
    assert row.can_resume and not row.can_stop


def test_a_live_run_keeps_its_running_rows(tmp_path):
    write_synthetic_campaign(tmp_path / "live", trials=10, running=2, status="running", pid=os.getpid())
    store = store_for(tmp_path)
    snap = store.campaign(store.tasks()[0].id)
    assert snap.live and snap.status == "running"
    assert sum(t.status == TrialStatus.RUNNING for t in snap.trials.values()) == 2
    assert "loading level" in table_view(snap).table["status"].str.cat()


def test_the_ray_job_decides_liveness_when_the_campaign_names_one_else_the_lock(tmp_path):
    meta = CampaignMeta(status=CampaignStatus.RUNNING, ray_job_id="j1")
    mine = LockOwner.this_process("j1")
    assert campaign_is_live(meta, {"j1": "RUNNING"}, None)
    assert not campaign_is_live(meta, {"j1": "STOPPED"}, mine)
    assert not campaign_is_live(meta, {}, mine)  # a restarted cluster does not know the job
    assert campaign_is_live(meta, None, mine)  # job list unavailable: the lock decides
    assert not campaign_is_live(meta, None, LockOwner.this_process("j1", pid=dead_pid()))
    assert not campaign_is_live(meta, None, None)
    assert not campaign_is_live(dataclasses.replace(meta, status=CampaignStatus.FINISHED), {"j1": "RUNNING"}, mine)
    # a driver on another pod sharing the volume: its heartbeat decides
    elsewhere = dataclasses.replace(mine, host="other-pod", pid=1)
    assert campaign_is_live(CampaignMeta(status=CampaignStatus.STARTING), None, elsewhere)
    assert not campaign_is_live(CampaignMeta(status=CampaignStatus.RUNNING), None, dataclasses.replace(elsewhere, heartbeat=0.0))


def test_a_campaign_whose_ray_job_was_stopped_shows_stopped_and_can_be_resumed(tmp_path):
    """`ray job stop` SIGKILLed the driver before it wrote its own status: the job's says it."""
    write_synthetic_campaign(tmp_path / "stopped", trials=6, running=2, status="running", pid=dead_pid(),
                             job_id="raysubmit_s")

    class Jobs:
        def list(self):
            return [JobInfo("raysubmit_s", "STOPPED", "autotuner run /x/task.yaml", 1.0)]

    [row] = store_for(tmp_path, jobs=Jobs()).tasks()
    assert row.status == "stopped" and row.can_resume and not row.can_stop


def test_hub_entries_overlay_the_tables_while_the_run_is_live(tmp_path):
    write_synthetic_campaign(tmp_path / "live", trials=5, running=1, status="running", pid=os.getpid())
    store = store_for(tmp_path)
    snap = store.campaign(store.tasks()[0].id)
    running = next(t for t in snap.trials.values() if t.status == TrialStatus.RUNNING)
    newer = dataclasses.replace(running, status=TrialStatus.DONE, levels_run=4).to_row()  # as the hub holds them
    new_trial = dataclasses.replace(running, trial_id="fresh001", status=TrialStatus.DEPLOYING, levels_run=0).to_row()
    entries = [{"trial": newer, "levels": None, "seq": 1}, {"trial": new_trial, "levels": [], "seq": 2}]
    store.hub = FakeHub(entries)
    store.poll_live()
    snap = store.campaign(store.tasks()[0].id)
    assert snap.trials[running.trial_id].status == TrialStatus.DONE
    assert len(snap.levels[running.trial_id]) >= 1  # the entry had no levels: the table's are kept
    assert snap.trials["fresh001"].status == "deploying" and snap.levels["fresh001"] == []
    assert list(store.hub.asked[0].values()) == [(0, 0)]
    store.poll_live()
    assert list(store.hub.asked[-1].values()) == [(1, 2)]  # only what is new is asked for next


def test_a_finished_campaign_ignores_older_hub_entries(tmp_path):
    write_synthetic_campaign(tmp_path / "done", trials=4, running=1, status="running", pid=os.getpid())
    store = store_for(tmp_path)
    task_id = store.tasks()[0].id
    stale = next(t for t in store.campaign(task_id).trials.values() if t.status == TrialStatus.RUNNING)
    store.hub = FakeHub([{"trial": stale.to_row(), "levels": None, "seq": 1}])
    store.poll_live()
    # the run ends: its tables are final
    write_synthetic_campaign(tmp_path / "done", trials=4, running=0, status="finished", pid=os.getpid())
    store.refresh_catalog()
    snap = store.campaign(task_id)
    assert snap.status == "finished" and TrialStatus.RUNNING not in {t.status for t in snap.trials.values()}


def test_jobs_are_listed_before_their_campaign_folder_exists(tmp_path):
    outside = tmp_path / "elsewhere" / "cli-task"
    task = tmp_path / "task.yaml"
    task.write_text(f"name: cli-task\nmodel: {{name: m}}\noutput: {outside}\n")
    jobs = [JobInfo("raysubmit_1", "PENDING", f"autotuner run {task}", 1.0),
            JobInfo("raysubmit_2", "FAILED", "autotuner run relative.yaml", 2.0, message="exit 2")]

    class Jobs:
        def list(self):
            return jobs

    assert job_folder(jobs[0]) == outside.resolve()
    store = store_for(tmp_path / "ws", jobs=Jobs())
    rows = {r.id: r for r in store.tasks()}
    assert rows["raysubmit_1"].status == "pending" and rows["raysubmit_1"].name == "cli-task"
    assert rows["raysubmit_2"].status == "failed" and rows["raysubmit_2"].message == "exit 2"
    # once the job writes its campaign folder (outside the roots), the task is that campaign
    write_synthetic_campaign(outside, trials=3, status="running", job_id="raysubmit_1", name="cli-task")
    jobs[0] = JobInfo("raysubmit_1", "RUNNING", f"autotuner run {task}", 1.0)
    store.refresh_catalog()
    row = store.find_task("raysubmit_1")
    assert row.folder == str(outside.resolve()) and row.status == "running" and row.trials_ended == 3
    assert row.source == "ray job" and row.can_stop


def test_the_hub_names_campaign_folders_the_app_could_not_guess(tmp_path):
    # `ray job submit --working-dir . -- autotuner run task.yaml`: runs/<name> inside the job's copy
    hidden = tmp_path / "job-working-dir" / "runs" / "hidden"
    write_synthetic_campaign(hidden, trials=2, status="finished", job_id="raysubmit_9", name="hidden")
    store = store_for(tmp_path / "ws", hub=FakeHub([], folders={"hidden-1": str(hidden)}))
    [row] = store.tasks()
    assert row.name == "hidden" and row.folder == str(hidden.resolve()) and row.trials_ended == 2


def test_a_resumed_campaign_is_one_row_with_its_first_start(tmp_path):
    # `ray job submit --working-dir . -- autotuner run task.yaml`, stopped, then resumed the same way:
    # neither job names the folder the app can see; campaign.json lists both runs.
    folder = tmp_path / "ws" / "resumed"
    write_synthetic_campaign(folder, trials=6, status="finished", job_id="raysubmit_2", name="resumed")
    files = CampaignFolder(folder)
    meta = files.read_meta()
    first = meta.started
    files.write_meta(dataclasses.replace(meta, runs=(CampaignRun(first, "raysubmit_1", False),
                                                     CampaignRun(first + 600, "raysubmit_2", True))))
    jobs = [JobInfo("raysubmit_1", "STOPPED", "autotuner run task.yaml", first, first + 300),
            JobInfo("raysubmit_2", "SUCCEEDED", "autotuner run task.yaml --resume", first + 600, first + 900)]

    class Jobs:
        def list(self):
            return jobs

    store = store_for(tmp_path / "ws", jobs=Jobs())
    [row] = store.tasks()
    assert row.status == "finished" and row.job_id == "raysubmit_2" and row.started == first
    assert row.resumes == (first + 600,)
    assert store.find_task("raysubmit_1") == row  # the stopped first run's job leads to the same task


def test_the_tasks_table_tells_campaigns_apart_and_keeps_whole_reasons(tmp_path):
    from serve_app.catalog import TaskRow
    from serve_app.pages.tasks import tasks_frame

    reason = "Job entrypoint command failed with exit code 2: /home/me/project/runs/a/spec.yaml: no such file"
    rows = [TaskRow("a-1", "a", "finished", 3, 3, 1.0, 1.0, "cli", folder=str(tmp_path / "ws" / "a")),
            TaskRow("a-2", "a", "finished", 3, 3, 2.0, 2.0, "ray job", folder=str(tmp_path / "elsewhere" / "a")),
            TaskRow("j", "b", "failed", 0, None, None, 3.0, "web", job_id="j", job_status="FAILED", message=reason)]
    frame = tasks_frame(rows, [tmp_path / "ws"])
    assert list(frame.columns[:2]) == ["task", "action"]  # the action never scrolls out of view
    assert frame["folder"].tolist()[:2] == ["a", str(tmp_path / "elsewhere" / "a")]
    assert frame["status"].tolist()[2] == f"failed: {reason}"

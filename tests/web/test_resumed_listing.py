"""Issue 25 item 11, the tasks page after a campaign was stopped, resumed and submitted again:
progress never passes 100% (re-measurement trials are not search trials), a job that found the
campaign finished and ran nothing is the campaign's, not a task of its own, and tasks that share
a name are told apart."""

import dataclasses
import json

from autotuner.campaign.driver import run_campaign
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignRun, TrialRecord, TrialStatus
from autotuner.trial.directive import Phase
from autotuner.task.ray_job import JOB_CONFIG_VAR
from serve_app.catalog import TaskRow
from serve_app.jobs import JobInfo
from serve_app.live import LiveStore
from serve_app.pages.tasks import tasks_frame
from tests.web.synthetic import write_synthetic_campaign


class Jobs:
    def __init__(self, jobs):
        self.jobs = jobs

    def list(self):
        return self.jobs


def finished_campaign(folder, *, trials=16, remeasured=3, job_id="raysubmit_1"):
    spec = write_synthetic_campaign(folder, trials=trials, status="finished", job_id=job_id, name="quickstart")
    campaign = CampaignFolder(folder)
    rows = campaign.read_trials()
    rows += [TrialRecord(f"r{i}", {}, phase=Phase.REMEASURE, status=TrialStatus.DONE, remeasure_of=rows[i].trial_id)
             for i in range(remeasured)]
    campaign.write_trials(rows)
    meta = campaign.read_meta()
    campaign.write_meta(dataclasses.replace(meta, budget_trials=trials,
                                            runs=(CampaignRun(started=meta.started, ray_job_id=job_id),)))
    return spec


def test_progress_counts_search_trials_only(tmp_path):
    finished_campaign(tmp_path / "ws" / "quickstart")
    store = LiveStore([tmp_path / "ws"])
    store.refresh_catalog()
    [row] = store.tasks()
    assert (row.trials_ended, row.budget_trials) == (16, 16)
    assert tasks_frame([row])["progress"].tolist() == ["16/16"]


def test_a_resubmitted_job_that_found_the_campaign_finished_is_the_campaigns(tmp_path, monkeypatch):
    folder = tmp_path / "ws" / "quickstart"
    spec = finished_campaign(folder)
    # `ray job submit --working-dir . -- autotuner run task.yaml` again: the job's folder cannot be
    # told from outside it; the run finds the campaign finished and runs nothing.
    monkeypatch.setenv(JOB_CONFIG_VAR, json.dumps({"metadata": {"job_submission_id": "raysubmit_2"}}))
    result = run_campaign(spec)
    assert result.already_finished
    started = CampaignFolder(folder).read_meta().started
    jobs = Jobs([JobInfo("raysubmit_1", "SUCCEEDED", "autotuner run task.yaml", started, started + 60),
                 JobInfo("raysubmit_2", "SUCCEEDED", "autotuner run task.yaml", started + 120, started + 125)])
    store = LiveStore([tmp_path / "ws"], jobs=jobs)
    store.refresh_catalog()
    [row] = store.tasks()
    assert row.status == "finished" and row.folder == str(folder.resolve()) and row.resumes == ()
    assert store.find_task("raysubmit_2") == row


def test_tasks_that_share_a_name_are_told_apart(tmp_path):
    rows = [TaskRow("a-1", "quickstart", "finished", 3, 3, 1.0, 1.0, "cli", folder=str(tmp_path / "ws" / "quickstart")),
            TaskRow("a-2", "quickstart", "finished", 3, 3, 2.0, 2.0, "ray job", folder=str(tmp_path / "b" / "quickstart")),
            TaskRow("raysubmit_7", "quickstart", "failed", 0, None, None, 3.0, "ray job", job_id="raysubmit_7"),
            TaskRow("o", "other", "finished", 1, 1, 1.0, 4.0, "cli", folder=str(tmp_path / "ws" / "other"))]
    names = [cell.split(">")[1].split("<")[0] for cell in tasks_frame(rows, [tmp_path / "ws"])["task"]]
    assert len(set(names)) == 4 and names[3] == "other", names
    assert names[0] == f"quickstart ({tmp_path / 'ws' / 'quickstart'})" and names[2] == "quickstart (job raysubmit_7)"

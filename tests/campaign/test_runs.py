"""campaign.json keeps a campaign's first start across resumes and lists each run with its job."""

import dataclasses

from autotuner.results.records import CampaignMeta


def test_a_resume_keeps_the_first_start_and_lists_its_run():
    meta = dataclasses.replace(CampaignMeta().with_run(ray_job_id="raysubmit_1", resume=False, now=100.0),
                               ray_job_id="raysubmit_1")
    meta = dataclasses.replace(meta.with_run(ray_job_id="raysubmit_2", resume=True, now=500.0), ray_job_id="raysubmit_2")
    meta = dataclasses.replace(meta.with_run(ray_job_id=None, resume=True, now=900.0), ray_job_id=None)  # `autotuner run --resume`
    assert meta.started == 100.0
    assert [r.started for r in meta.runs] == [100.0, 500.0, 900.0]
    assert meta.job_ids == ("raysubmit_1", "raysubmit_2") and meta.resumes == (500.0, 900.0)


def test_a_new_start_begins_a_new_history_and_old_files_still_read():
    old = CampaignMeta.from_json({"started": 100.0, "ray_job_id": "raysubmit_9"})  # written before runs were listed
    assert old.job_ids == ("raysubmit_9",) and old.resumes == ()
    assert old.with_run(ray_job_id=None, resume=False, now=700.0).started == 700.0

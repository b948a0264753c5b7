"""campaign.json keeps a campaign's first start across resumes and lists each run with its job."""

from autotuner.campaign.runs import job_ids, resumes, run_fields


def test_a_resume_keeps_the_first_start_and_lists_its_run():
    meta = run_fields({}, ray_job_id="raysubmit_1", resume=False, now=100.0)
    meta = {**meta, "ray_job_id": "raysubmit_1"}
    meta.update(run_fields(meta, ray_job_id="raysubmit_2", resume=True, now=500.0), ray_job_id="raysubmit_2")
    meta.update(run_fields(meta, ray_job_id=None, resume=True, now=900.0), ray_job_id=None)  # `autotuner run --resume`
    assert meta["started"] == 100.0
    assert [r["started"] for r in meta["runs"]] == [100.0, 500.0, 900.0]
    assert job_ids(meta) == ("raysubmit_1", "raysubmit_2") and resumes(meta) == (500.0, 900.0)


def test_a_new_start_begins_a_new_history_and_old_files_still_read():
    old = {"started": 100.0, "ray_job_id": "raysubmit_9"}  # written before runs were listed
    assert job_ids(old) == ("raysubmit_9",) and resumes(old) == ()
    assert run_fields(old, ray_job_id=None, resume=False, now=700.0)["started"] == 700.0

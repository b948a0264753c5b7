"""The runs of a campaign in campaign.json: ``started`` is the first run's start and stays (time
axes start there), ``runs`` lists every run, the first and each resume, with its start and its Ray
job, so a resumed campaign is one campaign with several jobs::

    meta.update(run_fields(meta, ray_job_id="raysubmit_2", resume=True, now=time.time()))
    meta.update(idle_run_fields(meta, ray_job_id="raysubmit_3", now=time.time()))  # found it finished
    job_ids(meta)      # ("raysubmit_1", "raysubmit_2", "raysubmit_3")
    resumes(meta)      # (start of the resume,)
"""

from __future__ import annotations

from typing import Any


def run_fields(before: dict[str, Any], *, ray_job_id: str | None, resume: bool, now: float) -> dict[str, Any]:
    """The fields a run writes into campaign.json as it starts (``before``: what was there)."""
    run = {"started": now, "ray_job_id": ray_job_id, "resume": resume}
    runs = [*(before.get("runs") or []), run] if resume else [run]
    return {"started": before.get("started", now) if resume else now, "runs": runs}


def idle_run_fields(before: dict[str, Any], *, ray_job_id: str, now: float) -> dict[str, Any]:
    """The runs list once a run found the campaign finished and ran nothing (a resubmitted job):
    listed, so that its job is shown as the campaign's, not as a task of its own."""
    return {"runs": [*(before.get("runs") or []), {"started": now, "ray_job_id": ray_job_id, "resume": False,
                                                     "ran_nothing": True}]}


def job_ids(meta: dict[str, Any]) -> tuple[str, ...]:
    """The Ray jobs that ran a campaign (each run's, and the current ``ray_job_id``)."""
    ids = [run.get("ray_job_id") for run in meta.get("runs") or []] + [meta.get("ray_job_id")]
    return tuple(dict.fromkeys(i for i in ids if i))


def resumes(meta: dict[str, Any]) -> tuple[float, ...]:
    """When each resume of a campaign started."""
    return tuple(run["started"] for run in meta.get("runs") or [] if run.get("resume") and run.get("started"))

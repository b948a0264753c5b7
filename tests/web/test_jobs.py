"""Submitting a campaign as a Ray job while the head's job agent is still starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_app import jobs
from serve_app.jobs import CampaignJobs


class AgentLate:
    """A JobSubmissionClient whose head answers as Ray does before its job agent is up."""

    def __init__(self, refusals: int, message: str = "Request failed with status code 500: No available agent to "
                                                      "submit job, please try again later.."):
        self.refusals, self.message, self.calls = refusals, message, 0

    def submit_job(self, **job):
        self.calls += 1
        if self.calls <= self.refusals:
            raise RuntimeError(self.message)
        return job["submission_id"]


def jobs_with(client) -> CampaignJobs:
    campaign_jobs = CampaignJobs("http://127.0.0.1:8265")
    campaign_jobs._client = client
    return campaign_jobs


def test_a_submission_waits_for_the_job_agent(monkeypatch):
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    client = AgentLate(refusals=2)
    job_id = jobs_with(client).submit(Path("/w/t/task.yaml"), name="t", folder=Path("/w/t"))
    assert client.calls == 3 and job_id.startswith("autotuner-t-run-")


def test_other_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    client = AgentLate(refusals=1, message="Request failed with status code 400: bad entrypoint")
    with pytest.raises(RuntimeError, match="bad entrypoint"):
        jobs_with(client).resume(Path("/w/t"), name="t")
    assert client.calls == 1

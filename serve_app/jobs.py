"""Campaigns as Ray Jobs: submit, resume, stop and list them through the dashboard's job API, the
same path as ``ray job submit``, so each one also shows in the Ray dashboard::

    jobs = CampaignJobs("http://127.0.0.1:8265")
    job_id = jobs.submit(Path("runs/quickstart/task.yaml"), name="quickstart")
    jobs.stop(job_id)      # SIGTERM: the campaign stops gracefully and can be resumed
"""

from __future__ import annotations

import shlex
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotuner.results.folder import CampaignFolder

SOURCE_WEB = "web"
SOURCE_RAY_JOB = "ray job"
SOURCE_CLI = "cli"
AGENT_WAIT_S = 60.0  # how long a submission waits for a just-started head's job agent


@dataclass(frozen=True)
class JobInfo:
    """What the web app needs of one Ray job."""

    submission_id: str
    status: str  # PENDING RUNNING STOPPED SUCCEEDED FAILED
    entrypoint: str
    start_time: float | None = None  # seconds since the epoch
    end_time: float | None = None
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ("PENDING", "RUNNING")


@dataclass(frozen=True)
class RunCommand:
    """The ``autotuner run`` part of a job's entrypoint."""

    task_file: str
    output: str | None
    resume: bool


def parse_run_command(entrypoint: str) -> RunCommand | None:
    """The ``autotuner run FILE [--resume] [--output DIR]`` in an entrypoint (also behind
    ``python -m autotuner.cli``), or None when the job is not a campaign."""
    try:
        argv = shlex.split(entrypoint)
    except ValueError:
        return None
    for i, arg in enumerate(argv[:-1]):
        is_cli = Path(arg).name == "autotuner" or (arg == "autotuner.cli" and i > 0 and argv[i - 1] == "-m")
        if is_cli and argv[i + 1] == "run":
            rest = argv[i + 2:]
            files = [a for j, a in enumerate(rest) if not a.startswith("-") and (j == 0 or rest[j - 1] != "--output")]
            output = rest[rest.index("--output") + 1] if "--output" in rest[:-1] else None
            return RunCommand(files[0], output, "--resume" in rest) if files else None
    return None


def autotuner_executable() -> str:
    """The ``autotuner`` script of this Python environment (the one Ray's workers run), so a job
    finds it even when that environment's bin folder is not on the cluster's PATH."""
    script = Path(sys.executable).parent / "autotuner"
    return str(script) if script.exists() else "autotuner"


def _new_submission_id(name: str, kind: str) -> str:
    return f"autotuner-{name}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


class CampaignJobs:
    """Ray Jobs of campaigns on one cluster (its dashboard address)."""

    def __init__(self, dashboard_address: str):
        self.address = dashboard_address
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    def submit(self, task_file: Path, *, name: str, folder: Path) -> str:
        """Start ``autotuner run TASK_FILE`` as a job; returns its submission id."""
        entrypoint = shlex.join([autotuner_executable(), "run", str(task_file)])
        return self._submit(entrypoint=entrypoint, submission_id=_new_submission_id(name, "run"),
                            metadata={"autotuner_task": name, "campaign_folder": str(folder), "source": SOURCE_WEB})

    def resume(self, folder: Path, *, name: str) -> str:
        """Continue the campaign in ``folder`` with ``autotuner run FOLDER/spec.yaml --resume``."""
        entrypoint = shlex.join([autotuner_executable(), "run", str(CampaignFolder(folder).spec_path),
                                 "--resume", "--output", str(folder)])
        return self._submit(entrypoint=entrypoint, submission_id=_new_submission_id(name, "resume"),
                            metadata={"autotuner_task": name, "campaign_folder": str(folder), "source": SOURCE_WEB})

    def _submit(self, **job: Any) -> str:
        """``submit_job``, retried while the head's job agent is not up yet: Ray answers 500 "No
        available agent" for some seconds after a head starts (as `autotuner ui` may just have)."""
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                return self.client.submit_job(**job)
            except RuntimeError as err:
                if "No available agent" not in str(err) or time.monotonic() > deadline:
                    raise
            time.sleep(1.0)

    def stop(self, submission_id: str) -> bool:
        """Ask the job to stop (SIGTERM to its entrypoint); False when it had already ended."""
        return bool(self.client.stop_job(submission_id))

    def list(self) -> list[JobInfo]:
        """Every job on the cluster that runs a campaign."""
        out = []
        for job in self.client.list_jobs():
            entrypoint = job.entrypoint or ""
            metadata = dict(job.metadata or {})
            if not job.submission_id or (parse_run_command(entrypoint) is None and "autotuner_task" not in metadata):
                continue
            out.append(JobInfo(
                submission_id=job.submission_id, status=str(getattr(job.status, "value", job.status)),
                entrypoint=entrypoint, start_time=job.start_time / 1000 if job.start_time else None,
                end_time=job.end_time / 1000 if job.end_time else None, message=job.message or "",
                metadata=metadata))
        return out

"""What the app changes: submit a task, stop it, resume it. Shared by the REST API and the pages;
callers check the access token first::

    actions = TaskActions(workspace=Path("runs"), store=store, jobs=jobs)
    result = actions.submit(yaml_text)        # Submitted(job_id=..., folder=...) or ActionError
    actions.stop(task_id); actions.resume(task_id)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autotuner.results.folder import CampaignFolder
from autotuner.task.spec import Problem, TaskSpec, parse_spec, parse_spec_text
from serve_app.jobs import CampaignJobs
from serve_app.live import LiveStore



class ActionError(Exception):
    """An action refused: HTTP status, message, and the spec problems when there are any."""

    def __init__(self, status: int, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []


@dataclass(frozen=True)
class Submitted:
    job_id: str
    folder: Path
    name: str


class TaskActions:
    """Submit, stop and resume campaigns; new campaigns go to ``workspace/<name>``."""

    def __init__(self, workspace: Path, store: LiveStore, jobs: CampaignJobs):
        self.workspace = workspace
        self.store = store
        self.jobs = jobs

    def submit(self, task: str | dict) -> Submitted:
        """Check a task (YAML text or parsed data), write it to its campaign folder and start
        ``autotuner run`` on it as a Ray job."""
        spec, problems = parse_spec_text(task) if isinstance(task, str) else parse_spec(task)
        if spec is None or problems:
            raise ActionError(422, "the task has problems", problems)
        return self.submit_spec(spec)

    def submit_spec(self, spec: TaskSpec) -> Submitted:
        folder = (self.workspace / spec.name).resolve()
        if CampaignFolder(folder).is_campaign():
            raise ActionError(409, f"a campaign named {spec.name!r} already exists in {self.workspace}: "
                                   "resume it from its page, or choose another name",
                              [Problem("name", spec.name, "a campaign with this name already exists")])
        if any(r.folder == str(folder) and r.can_stop for r in self.store.tasks()):
            raise ActionError(409, f"a job for {spec.name!r} is already queued or running")
        folder.mkdir(parents=True, exist_ok=True)
        task_file = CampaignFolder(folder).submitted_task_path
        task_file.write_text(spec.model_copy(update={"output": str(folder)}).to_yaml())
        job_id = self.jobs.submit(task_file, name=spec.name, folder=folder)
        return Submitted(job_id=job_id, folder=folder, name=spec.name)

    def stop(self, task_id: str) -> str:
        """Stop a task's running job (the campaign stops gracefully and can be resumed)."""
        row = self.store.find_task(task_id)
        if row is None:
            raise ActionError(404, f"no task {task_id!r}")
        if not row.can_stop or row.job_id is None:
            outside = "" if row.job_id else " (it was started outside Ray Jobs: stop it where it runs)"
            raise ActionError(409, f"task {row.name!r} has no running Ray job to stop{outside}")
        self.jobs.stop(row.job_id)
        return row.job_id

    def resume(self, task_id: str) -> str:
        """Continue an interrupted campaign (stopped, crashed, cluster restarted) as a new Ray job."""
        row = self.store.find_task(task_id)
        if row is None:
            raise ActionError(404, f"no task {task_id!r}")
        if not row.can_resume or row.folder is None:
            raise ActionError(409, f"task {row.name!r} is {row.status}: only a stopped, interrupted or failed "
                                   "campaign can be resumed")
        return self.jobs.resume(Path(row.folder), name=row.name)

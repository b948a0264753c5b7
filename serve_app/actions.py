"""What the app changes: submit a task, stop it, resume it. Shared by the REST API and the pages;
callers check the access token first::

    actions = TaskActions(workspace=Path("runs"), store=store, jobs=jobs)
    result = actions.submit(yaml_text)        # Submitted(job_id=..., folder=...) or ActionError
    actions.stop(task_id); actions.resume(task_id)

The access token lets its holder start campaigns, not run programs of their choosing: unless the
operator started the app with ``autotuner ui --allow-commands``, a task from the web runs only the
simulator or the flavor's own engine entry point (:func:`command_problems`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autotuner.campaign.folder_guard import SUBMITTED_TASK_FILE
from autotuner.results.folder import CampaignFolder
from autotuner.task.load import parse_spec, parse_spec_text
from autotuner.task.spec import Problem, TaskSpec
from serve_app.jobs import CampaignJobs
from serve_app.live import LiveStore

TASK_FILE = SUBMITTED_TASK_FILE  # the tuner accepts a new campaign folder that holds it
ALLOW_COMMANDS_HINT = ("the app was started without --allow-commands, so a task from the web may run only the "
                       "simulator or the engine's own entry point (command: simulator | engine)")


def command_problems(spec: TaskSpec) -> list[Problem]:
    """What in ``spec`` would run a program, library or engine flag of the submitter's choosing:
    a command line, another interpreter, environment variables (``LD_PRELOAD``, ...), flags for a
    real engine (some load code: vLLM's ``--middleware``, ``--trust-remote-code``) or an OME
    runtime's command. The simulator's own flags are allowed (its parser only reads them)."""
    eng, out = spec.engine, []
    if eng.backend == "local":
        local = eng.local
        if not isinstance(local.command, str):
            out.append(Problem("engine.local.command", local.command, ALLOW_COMMANDS_HINT))
        if local.python is not None:
            out.append(Problem("engine.local.python", local.python, ALLOW_COMMANDS_HINT))
        if local.env:
            out.append(Problem("engine.local.env", sorted(local.env), ALLOW_COMMANDS_HINT))
        if local.extra_args and not eng.simulated:
            out.append(Problem("engine.local.extra_args", local.extra_args,
                               ALLOW_COMMANDS_HINT + "; extra flags only for the simulator"))
    if eng.ome is not None and eng.ome.command_override:
        out.append(Problem("engine.ome.command_override", eng.ome.command_override, ALLOW_COMMANDS_HINT))
    return out


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
    """Submit, stop and resume campaigns; new campaigns go to ``workspace/<name>``.
    ``allow_commands``: tasks may run any command (``autotuner ui --allow-commands``)."""

    def __init__(self, workspace: Path, store: LiveStore, jobs: CampaignJobs, *, allow_commands: bool = False):
        self.workspace = workspace
        self.store = store
        self.jobs = jobs
        self.allow_commands = allow_commands

    def _check_commands(self, spec: TaskSpec) -> None:
        problems = [] if self.allow_commands else command_problems(spec)
        if problems:
            raise ActionError(403, "the task would run a program of its own choosing", problems)

    def submit(self, task: str | dict) -> Submitted:
        """Check a task (YAML text or parsed data), write it to its campaign folder and start
        ``autotuner run`` on it as a Ray job."""
        spec, problems = parse_spec_text(task) if isinstance(task, str) else parse_spec(task)
        if spec is None or problems:
            raise ActionError(422, "the task has problems", problems)
        return self.submit_spec(spec)

    def submit_spec(self, spec: TaskSpec) -> Submitted:
        self._check_commands(spec)
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
        spec, _ = CampaignFolder(row.folder).read_spec()
        if spec is not None:  # a campaign started elsewhere may run a command: resume it there
            self._check_commands(spec)
        return self.jobs.resume(Path(row.folder), name=row.name)

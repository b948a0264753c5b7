"""Where a task's relative paths point. They are resolved once, when ``autotuner run`` starts and
before Ray moves any process elsewhere: Ray Tune runs each trial in a working directory of its
own, and a Ray job submitted with ``--working-dir`` runs in Ray's temporary copy of that folder.

- Inputs (``model.path``, ``model.tokenizer``, ``engine.local.python``, a relative
  ``engine.local.command`` program, ``engine.ome.kubeconfig``, ``workload.dataset.path``) resolve against the current
  directory, where ``autotuner run`` was started (a ``--working-dir`` job: its unpacked files).
- The campaign folder (``output``, default ``runs/<name>``) resolves against
  ``$AUTOTUNER_OUTPUT_BASE`` when it is set, else the current directory, except when that is one
  of Ray's temporary folders (a ``--working-dir`` job): then the home directory, so that results
  outlive the job and a resubmitted or resumed job finds them again.

>>> output_base(Path("/work/repo"), {})
PosixPath('/work/repo')
>>> output_base(Path("/tmp/ray/session_latest/runtime_resources/working_dir_files/_ray_pkg_ab"), {"HOME": "/home/ray"})
PosixPath('/home/ray')
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from autotuner.task.ray_job import current_ray_job
from autotuner.task.spec import TaskSpec

OUTPUT_BASE_VAR = "AUTOTUNER_OUTPUT_BASE"
_SESSION_DIR = re.compile(r"^session_(latest|\d{4}-\d{2}-\d{2}_)")


def is_ray_temporary(path: Path) -> bool:
    """Whether ``path`` lies in one of Ray's temporary folders, which Ray deletes: a session folder
    (logs, Tune's trial working directories, ``runtime_resources/`` with the unpacked
    ``--working-dir`` packages ``_ray_pkg_<hash>``).

    >>> is_ray_temporary(Path("/tmp/ray/session_2026-01-02_03-04-05_1_2/artifacts/x"))
    True
    >>> is_ray_temporary(Path("/home/me/runs/quickstart"))
    False
    """
    return any(part == "runtime_resources" or part.startswith("_ray_pkg_") or _SESSION_DIR.match(part)
               for part in path.parts)


def output_base(cwd: Path, env: Mapping[str, str]) -> Path:
    """The folder a relative ``output`` resolves against (see the module's docstring)."""
    if env.get(OUTPUT_BASE_VAR):
        return Path(env[OUTPUT_BASE_VAR]).expanduser().resolve()
    job = current_ray_job(env)
    if (job is not None and job.working_dir) or is_ray_temporary(cwd):
        return Path(env.get("HOME") or Path.home()).resolve()
    return cwd


def _absolute(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _program(path: str, base: Path) -> str:
    """A program: a path when it names a folder (``./serve.sh``, ``.venv/bin/python``), else a
    name looked up on PATH, left as it is."""
    return _absolute(path, base) if os.sep in path else path


def resolve_task_paths(spec: TaskSpec, *, base: Path, output_base: Path) -> TaskSpec:
    """The spec with every path absolute (the output always set): inputs against ``base``, the
    campaign folder against ``output_base``. Absolute paths are kept; ``~`` is expanded."""
    model = spec.model.model_copy(update={
        "path": spec.model.path and _absolute(spec.model.path, base),
        "tokenizer": spec.model.tokenizer and _absolute(spec.model.tokenizer, base)})
    local = spec.engine.local
    command = ([_program(local.command[0], base), *local.command[1:]]
               if isinstance(local.command, list) and local.command else local.command)
    engine_update: dict = {"local": local.model_copy(update={
        "python": local.python and _program(local.python, base), "command": command})}
    if spec.engine.ome is not None and spec.engine.ome.kubeconfig:
        engine_update["ome"] = spec.engine.ome.model_copy(
            update={"kubeconfig": _absolute(spec.engine.ome.kubeconfig, base)})
    workload = spec.workload
    if workload.dataset is not None:
        workload = workload.model_copy(update={"dataset": workload.dataset.model_copy(
            update={"path": _absolute(workload.dataset.path, base)})})
    return spec.model_copy(update={
        "output": _absolute(spec.output or f"runs/{spec.name}", output_base), "model": model,
        "engine": spec.engine.model_copy(update=engine_update), "workload": workload})


def resolve_here(spec: TaskSpec) -> TaskSpec:
    """:func:`resolve_task_paths` for this process: its current directory and environment."""
    cwd = Path.cwd()
    return resolve_task_paths(spec, base=cwd, output_base=output_base(cwd, os.environ))


__all__ = ["OUTPUT_BASE_VAR", "is_ray_temporary", "output_base", "resolve_here", "resolve_task_paths"]

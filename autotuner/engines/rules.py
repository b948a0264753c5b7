"""What each engine backend needs of a task, checked with the task before anything runs
(:data:`autotuner.plugins.BACKEND_RULES`). Light on purpose: validating a task imports this, never a
backend (the ome one loads the Kubernetes client)."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from autotuner.task.problem import Problem

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec


def local_problems(spec: TaskSpec) -> list[Problem]:
    """The real engine needs its weights; the key comes from the environment."""
    out = []
    eng = spec.engine
    if eng.local.command == "engine" and not spec.model.path:
        out.append(Problem("model.path", None,
                           f"the engine command needs the local weights folder of {eng.engine_flavor.title}"))
    if eng.api_key is not None and eng.api_key.secret_name is not None:
        out.append(Problem("engine.api_key.secret_name", eng.api_key.secret_name,
                           "a Kubernetes Secret is for the ome backend; the local backend reads env"))
    return out + _command_problems(spec)


def _command_problems(spec: TaskSpec) -> list[Problem]:
    """A server's own argv (engine.local.command as a list) starts with a program this machine has:
    a path to an executable file, or a name on PATH (engine.local.env's, when it sets one)."""
    eng = spec.engine
    command = eng.local.command
    if isinstance(command, str):
        return []
    if not command:
        return [Problem("engine.local.command", command,
                        "give the server's program and its arguments, or simulator, or engine")]
    program = command[0]
    if shutil.which(program, path=eng.local.env.get("PATH", os.environ.get("PATH"))) is not None:
        return []
    where = "an executable file" if os.sep in program else "a program on PATH"
    return [Problem("engine.local.command.0", program, f"not {where} on this machine: give the OpenAI-compatible "
                                                       "server's program, or use simulator or engine")]


def ome_problems(spec: TaskSpec) -> list[Problem]:
    """An engine.ome section; the key comes from a Kubernetes Secret."""
    out = []
    eng = spec.engine
    if eng.ome is None:
        out.append(Problem("engine.ome", None, "backend 'ome' needs an engine.ome section (namespace, base_model ...)"))
    if eng.api_key is not None and eng.api_key.env is not None:
        out.append(Problem("engine.api_key.env", eng.api_key.env, "the ome backend passes the key to each "
                                                                  "InferenceService from a Kubernetes Secret: set secret_name"))
    return out


__all__ = ["local_problems", "ome_problems"]

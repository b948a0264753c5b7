"""What each engine backend needs of a task, checked with the task before anything runs
(:data:`autotuner.plugins.BACKEND_RULES`). Light on purpose: validating a task imports this, never a
backend (the ome one loads the Kubernetes client)."""

from __future__ import annotations

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
    return out


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

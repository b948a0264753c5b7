"""The engine backends by their ``engine.backend`` name, one line each.

A backend is imported only when a task uses it (the ``ome`` one loads the Kubernetes client)::

    backend = make_backend(spec, api_key)          # configured from the task
    backend_class(spec.engine.backend).trial_slots(spec)
"""

from __future__ import annotations

import importlib

from autotuner.engines.base import EngineBackend
from autotuner.task.spec import TaskSpec

# name -> "module:class" of an EngineBackend
BACKENDS: dict[str, str] = {
    "local": "autotuner.engines.local:LocalProcessEngine",
    "ome": "autotuner.engines.ome:InferenceServiceEngine",
}


def backend_class(name: str) -> type[EngineBackend]:
    """The backend class registered as ``name``; ValueError naming the known ones otherwise."""
    target = BACKENDS.get(name)
    if target is None:
        raise ValueError(f"unknown engine.backend {name!r}; known: {', '.join(BACKENDS)}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def make_backend(spec: TaskSpec, api_key: str | None = None) -> EngineBackend:
    """The engine backend a task spec asks for, configured from it; ``api_key``: the key that
    ``spec.engine.api_key`` names (:func:`autotuner.engines.api_key.api_key_for`)."""
    return backend_class(spec.engine.backend).from_spec(spec, api_key)


__all__ = ["BACKENDS", "backend_class", "make_backend"]

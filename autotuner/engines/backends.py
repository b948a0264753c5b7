"""The engine backend a task names (``engine.backend``), from the registry
:data:`autotuner.plugins.BACKENDS`; a backend is imported only when a task uses it (the ``ome`` one
loads the Kubernetes client)::

    backend = make_backend(spec, api_key)          # configured from the task
    BACKENDS.get(spec.engine.backend).trial_slots(spec)
"""

from __future__ import annotations

from autotuner.engines.base import EngineBackend
from autotuner.plugins import BACKENDS
from autotuner.task.spec import TaskSpec


def make_backend(spec: TaskSpec, api_key: str | None = None) -> EngineBackend:
    """The engine backend a task spec asks for, configured from it; ``api_key``: the key that
    ``spec.engine.api_key`` names (:func:`autotuner.engines.api_key.api_key_for`)."""
    backend: type[EngineBackend] = BACKENDS.get(spec.engine.backend)
    return backend.from_spec(spec, api_key)


__all__ = ["BACKENDS", "make_backend"]

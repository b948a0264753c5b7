"""Garbage collection: what a crashed run of a campaign left behind on a cluster."""

from __future__ import annotations

from autotuner.task.spec import TaskSpec


def collect_garbage(spec: TaskSpec, campaign_id: str) -> list[str] | None:
    """Remove what a crashed run of this campaign left behind (Kubernetes objects of the ome
    backend); the objects removed, None when the backend leaves nothing on a cluster."""
    from autotuner.plugins import BACKENDS

    return BACKENDS.get(spec.engine.backend).collect_garbage(spec, campaign_id)


__all__ = ["collect_garbage"]

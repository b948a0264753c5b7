"""Links into the Ray dashboard: each trial runs in one Ray actor, whose page shows its state and
its logs (the trainable's output, errors)::

    url = dashboard_url()                        # of the cluster this driver is connected to, or None
    actor_url(url, trial_actor_id(trial))        # http://127.0.0.1:8265/#/actors/6bccb013...
"""

from __future__ import annotations

from typing import Any


def dashboard_url() -> str | None:
    """The dashboard of the connected cluster as this process reaches it; None when the cluster
    runs without one (the CLI's private local Ray)."""
    import ray._private.worker  # ray.init() returns it too, but a job's driver may not call ray.init

    if not ray.is_initialized():
        return None
    url = ray._private.worker.get_dashboard_url()
    if not url:
        return None
    return (url if url.startswith("http") else f"http://{url}").rstrip("/")


def actor_url(dashboard: str, actor_id: str) -> str:
    """The dashboard page of one actor (state, logs)."""
    return f"{dashboard.rstrip('/')}/#/actors/{actor_id}"


def trial_actor_id(trial: Any) -> str | None:
    """The id of the Ray actor a Tune trial runs in, on the driver while the trial runs."""
    actor = getattr(getattr(trial, "temporary_state", None), "ray_actor", None)
    actor_id = getattr(actor, "_actor_id", None)  # Tune keeps the handle; its id has no public accessor
    return actor_id.hex() if actor_id is not None else None

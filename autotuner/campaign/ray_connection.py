"""The campaign's Ray: attach to the cluster in RAY_ADDRESS (or the job's), else start a local one
whose slots are the campaign's; then check that every trial can be placed on some node."""

from __future__ import annotations

import os
import signal
import socket

from autotuner.campaign.errors import CampaignError
from autotuner.campaign.placement import check_cluster, trial_slots
from autotuner.campaign.stop_signals import CampaignStopped
from autotuner.task.spec import TaskSpec


def connect_ray(spec: TaskSpec) -> None:
    """Attach to the cluster in RAY_ADDRESS (or the job's cluster), else start a local Ray whose
    slots are the campaign's, as its backend declares them (:func:`~autotuner.campaign.placement.trial_slots`)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    try:
        if address:
            _require_reachable(address)
            ray.init(address=address, log_to_driver=False)
            return
        ray.init(address="local", num_cpus=max(2, os.cpu_count() or 2), **trial_slots(spec).local_ray,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    except SystemExit as exit_:  # ray.init turns SIGTERM into sys.exit(SIGTERM) while it connects
        if exit_.code == signal.SIGTERM:
            raise CampaignStopped("SIGTERM") from None
        raise


def require_placeable(spec: TaskSpec) -> None:
    """:class:`CampaignError` when some trial of the task could never be placed on the cluster."""
    problem = check_cluster(spec)
    if problem:
        raise CampaignError(problem)


def _require_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when a ``host:port`` address does not answer: ray.init would retry it for
    about 13 minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise CampaignError(f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({err.strerror or err}): "
                            "start it (`ray start --head`), correct RAY_ADDRESS, or unset it to run on a local "
                            "Ray of this process") from None


__all__ = ["connect_ray", "require_placeable"]

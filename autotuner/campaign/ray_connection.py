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
            _require_ray_at(address)
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


# What a client sends first on HTTP/2 (gRPC): the connection preface and an empty SETTINGS frame.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
GCS_REPLY_S = 10.0  # how long a Ray cluster's GCS may take to answer that (it answers at once)


def _require_ray_at(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when a ``host:port`` address does not answer as a Ray cluster: ray.init would
    retry a closed port for about 13 minutes, and wait on a port that accepts and stays silent, or
    speaks another protocol (a dashboard's 8265, a web server), with no way to Ctrl-C it."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as conn:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return  # it speaks TLS first: Ray's own connection checks it
            conn.sendall(_HTTP2_PREFACE)
            conn.settimeout(GCS_REPLY_S)
            try:
                reply = conn.recv(64)
            except socket.timeout:
                reply = None
    except OSError as err:
        raise CampaignError(f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({err.strerror or err}): "
                            "start it (`ray start --head`), correct RAY_ADDRESS, or unset it to run on a local "
                            "Ray of this process") from None
    problem = gcs_reply_problem(reply)
    if problem:
        raise CampaignError(f"RAY_ADDRESS={address} {problem}: set it to the address `ray start --head` printed "
                            "(its GCS, port 6379 by default), or unset it to run on a local Ray of this process")


def gcs_reply_problem(reply: bytes | None) -> str | None:
    """What is wrong with the first bytes a port sent back to the HTTP/2 preface (None: it replied
    with a SETTINGS frame, as the gRPC server of Ray's GCS does; ``None`` reply: it stayed silent).

    >>> gcs_reply_problem(bytes([0, 0, 0x18, 4, 0, 0, 0, 0, 0]) + bytes(0x18)) is None
    True
    >>> gcs_reply_problem(b"HTTP/1.0 400 Bad Request").split(":")[0]
    "answers HTTP/1, not Ray's GCS"
    """
    if reply is None:
        return f"accepts connections but did not answer as a Ray cluster within {GCS_REPLY_S:g} s"
    if reply.startswith((b"HTTP/", b"<")):  # a status line, or an HTTP/0.9-style page (Python's http.server)
        return ("answers HTTP/1, not Ray's GCS: is it the dashboard's port? (`ray job submit --address` takes the "
                "dashboard's http:// address; RAY_ADDRESS, the GCS's host:port)")
    if len(reply) < 9 or reply[3] != 4:
        return "answers, but not as a Ray cluster (no gRPC reply)" if reply else "closed the connection unanswered"
    return None


__all__ = ["GCS_REPLY_S", "connect_ray", "gcs_reply_problem", "require_placeable"]

"""Read OME's readiness and failure signals from an InferenceService, its pods and its events.

OME sets no terminal "Failed" condition, so the signals are combined (NOTES.md section 4):
``status.modelStatus`` for a crashed engine, pod conditions and container states for what OME
does not surface (Unschedulable, image pulls, CrashLoopBackOff), and Warning events while the
status stays empty (model or runtime did not resolve). Pure functions over the API's JSON::

    >>> isvc = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    >>> is_ready(isvc)
    True
    >>> pod = {"metadata": {"name": "p"}, "status": {"conditions": [{"type": "PodScheduled",
    ...        "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}}
    >>> pod_failures([pod])[0].reason
    'engine pod p is unschedulable: 0/3 nodes are available'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

IMAGE_ERRORS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONTAINER_CONFIG_ERRORS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


@dataclass(frozen=True)
class Failure:
    """Why an engine cannot come up.

    ``infeasible``: the config itself fails (crash, OOM), so the search should avoid it; False for
    infrastructure trouble. ``persistent``: the signal may clear by itself (a pod waiting for
    GPUs, an image pull retrying, a reconcile error OME retries), so it only counts once it has
    lasted the grace period; ``key`` tells one such signal from another.
    """

    reason: str
    infeasible: bool = False
    persistent: bool = False
    key: str = ""
    detail: str = ""


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def is_ready(isvc: Mapping[str, Any]) -> bool:
    """OME's readiness: condition ``Ready`` is ``"True"``."""
    cond = condition(isvc, "Ready")
    return cond is not None and cond.get("status") == "True"


def model_failure(isvc: Mapping[str, Any]) -> Failure | None:
    """OME's crash signal: ``modelStatus`` BlockedByFailedLoad / FailedToLoad (or InvalidSpec)."""
    model = (isvc.get("status") or {}).get("modelStatus") or {}
    transition = model.get("transitionStatus")
    target = (model.get("modelRevisionStates") or {}).get("targetModelState")
    if transition == "InvalidSpec":
        return Failure("OME rejected the spec (modelStatus.transitionStatus InvalidSpec)")
    if transition != "BlockedByFailedLoad" and target != "FailedToLoad":
        return None
    info = model.get("lastFailureInfo") or {}
    facts = [str(info[k]) for k in ("reason", "message") if info.get(k)]
    if info.get("exitCode") is not None:
        facts.append(f"exit code {info['exitCode']}")
    text = f": {', '.join(facts)}" if facts else ""
    return Failure(f"engine failed to load ({transition or target}){text}", infeasible=True)


def pod_failures(pods: Iterable[Mapping[str, Any]], runner_name: str = "ome-container") -> list[Failure]:
    """Failures visible on the engine pods: scheduling, image pulls, container start, crashes."""
    failures = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        scheduled = condition(pod, "PodScheduled")
        if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
            failures.append(Failure(f"engine pod {name} is unschedulable: {scheduled.get('message', '')}".rstrip(": "),
                                    persistent=True, key=f"unschedulable/{name}"))
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            if (failure := _container_failure(name, cs, runner_name)) is not None:
                failures.append(failure)
    return failures


def _container_failure(pod: str, cs: Mapping[str, Any], runner_name: str) -> Failure | None:
    waiting = (cs.get("state") or {}).get("waiting") or {}
    reason, message, container = waiting.get("reason"), waiting.get("message", ""), cs.get("name", "?")
    where = f"engine pod {pod}, container {container}"
    if reason in IMAGE_ERRORS or reason in CONTAINER_CONFIG_ERRORS:
        return Failure(f"{where}: {reason}: {message}".rstrip(": "), persistent=True, key=f"{reason}/{pod}/{container}")
    if reason == "CrashLoopBackOff":
        last = (cs.get("lastState") or {}).get("terminated") or {}
        how = ", ".join(f"{label} {last[key]}" for label, key in (("reason", "reason"), ("exit code", "exitCode"))
                        if last.get(key) is not None)
        # A crash of the engine container is the config's doing (OOM, bad flag); of another, not.
        return Failure(f"{where} crashed (CrashLoopBackOff{', ' + how if how else ''})", infeasible=container == runner_name)
    return None


def event_failure(isvc: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Failure | None:
    """Warning events on this ISVC while OME has written no condition: the reconcile is failing
    (model or runtime not found or incompatible, merge errors ...). Events of an earlier object
    with the same name are ignored (different uid)."""
    if (isvc.get("status") or {}).get("conditions"):
        return None
    uid = (isvc.get("metadata") or {}).get("uid")
    warnings = [
        e for e in events
        if e.get("type") == "Warning" and (e.get("involvedObject") or {}).get("uid") in (None, uid)
    ]
    if not warnings:
        return None
    latest = max(warnings, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return Failure(f"OME cannot reconcile the InferenceService: {latest.get('reason')}: {latest.get('message', '')}",
                   persistent=True, key=f"event/{latest.get('reason')}",
                   detail="\n".join(f"Warning {e.get('reason')}: {e.get('message', '')}" for e in warnings[-10:]))


def progress_summary(isvc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> str:
    """Where start-up stands, for a time-out message: ``Ready=False (Initializing); pod p: Running``."""
    ready = condition(isvc, "Ready")
    parts = [f"Ready={ready.get('status')} ({ready.get('reason') or 'no reason'})" if ready else "no status from OME yet"]
    pods = list(pods)
    for pod in pods:
        status = pod.get("status") or {}
        ready_pod = condition(pod, "Ready")
        state = "ready" if ready_pod and ready_pod.get("status") == "True" else "not ready"
        parts.append(f"pod {(pod.get('metadata') or {}).get('name')}: {status.get('phase', '?')}, {state}")
    if not pods:
        parts.append("no engine pod")
    return "; ".join(parts)

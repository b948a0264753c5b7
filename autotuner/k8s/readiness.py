"""Wait until an InferenceService is Ready, or fail fast with the real reason.

Each round reads the object, checks OME's status, the engine pods and the Warning events, then
watches the object for at most ``watch_timeout_s`` (so pods are looked at that often even when the
object does not change). Signals that may clear by themselves must last ``failure_grace_s``::

    isvc = wait_until_ready(api, "sweep-t0001", WaitSettings(ready_timeout_s=1800))
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from autotuner.k8s.api import INFERENCE_SERVICES, KubeError, NamespacedApi
from autotuner.k8s.diagnose import (
    Failure,
    event_failure,
    is_ready,
    model_failure,
    pod_failures,
    progress_summary,
)


@dataclass(frozen=True)
class WaitSettings:
    ready_timeout_s: float = 1800.0
    failure_grace_s: float = 60.0  # how long Unschedulable / image-pull / Warning-event signals may last
    watch_timeout_s: int = 10  # longest wait between two looks at the pods and events
    runner_name: str = "ome-container"
    log_tail_lines: int = 40


class StartFailed(Exception):
    """The InferenceService will not become Ready; ``failure`` says why."""

    def __init__(self, failure: Failure):
        super().__init__(failure.reason)
        self.failure = failure


def engine_pod_selector(isvc_name: str) -> str:
    """OME's labels on an InferenceService's engine pods."""
    return f"ome.io/inferenceservice={isvc_name},component=engine"


def wait_until_ready(api: NamespacedApi, name: str, settings: WaitSettings,
                     clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The Ready InferenceService; raises :class:`StartFailed` (or :class:`KubeError` when the API
    itself keeps failing)."""
    deadline = clock() + settings.ready_timeout_s
    first_seen: dict[str, float] = {}
    while True:
        isvc = api.get(INFERENCE_SERVICES, name)
        if isvc is None:
            raise StartFailed(Failure(f"InferenceService {name} was deleted before it became Ready"))
        if is_ready(isvc):
            return isvc
        pods = api.list_pods(engine_pod_selector(name))
        failure = _first_failure(api, isvc, pods, settings, first_seen, clock())
        if failure is not None:
            raise StartFailed(_with_detail(api, failure, pods, settings))
        remaining = deadline - clock()
        if remaining <= 0:
            raise StartFailed(Failure(
                f"not Ready after {settings.ready_timeout_s:.0f}s: {progress_summary(isvc, pods)}"))
        api.wait_for_change(INFERENCE_SERVICES, name, isvc["metadata"]["resourceVersion"],
                            min(settings.watch_timeout_s, math.ceil(remaining)))


def _first_failure(api: NamespacedApi, isvc: dict[str, Any], pods: list[dict[str, Any]], settings: WaitSettings,
                   first_seen: dict[str, float], now: float) -> Failure | None:
    """The first signal that fails the start now; persistent ones once they outlived the grace."""
    candidates = [model_failure(isvc), *pod_failures(pods, settings.runner_name)]
    if not (isvc.get("status") or {}).get("conditions"):
        events = api.list_events(f"involvedObject.kind=InferenceService,involvedObject.name={isvc['metadata']['name']}")
        candidates.append(event_failure(isvc, events))
    failures = [f for f in candidates if f is not None]
    seen_now = {f.key for f in failures if f.persistent}
    for key in set(first_seen) - seen_now:
        del first_seen[key]  # the signal cleared (e.g. the pod got scheduled): its clock restarts
    for failure in failures:
        if not failure.persistent:
            return failure
        since = first_seen.setdefault(failure.key, now)
        if now - since >= settings.failure_grace_s:
            return failure
    return None


def _with_detail(api: NamespacedApi, failure: Failure, pods: list[dict[str, Any]], settings: WaitSettings) -> Failure:
    """For a crash, the engine's last log lines (of the crashed container when there is one)."""
    if not failure.infeasible or not pods or failure.detail:
        return failure
    pod = pods[0]["metadata"]["name"]
    for previous in (True, False):
        try:
            text = api.pod_log(pod, settings.runner_name, settings.log_tail_lines, previous=previous)
        except KubeError:
            continue  # no previous container (never restarted): try the current one
        if text.strip():
            return Failure(failure.reason, failure.infeasible, failure.persistent, failure.key, text.rstrip())
    return failure

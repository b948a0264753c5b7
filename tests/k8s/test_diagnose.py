"""Failure signals, the grace period of the ones that may clear, and the retry policy."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from autotuner.k8s.api import KubeError, RetryPolicy, call_with_retry, is_transient
from autotuner.k8s.diagnose import (
    event_failure,
    model_failure,
    pod_failures,
    progress_summary,
)
from autotuner.k8s.readiness import StartFailed, WaitSettings, wait_until_ready

UNSCHEDULABLE = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
     "message": "0/3 nodes: Insufficient nvidia.com/gpu"}]}}


def isvc(status: dict | None = None, uid: str = "u1") -> dict:
    return {"metadata": {"name": "sweep-t1", "uid": uid, "resourceVersion": "7"}, "status": status or {}}


def test_model_failure_reads_omes_crash_status():
    failed = isvc({"modelStatus": {"transitionStatus": "BlockedByFailedLoad",
                                   "modelRevisionStates": {"targetModelState": "FailedToLoad"},
                                   "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "OOM", "exitCode": 137}}})
    failure = model_failure(failed)
    assert failure.reason == "engine failed to load (BlockedByFailedLoad): ModelLoadFailed, OOM, exit code 137"
    assert failure.infeasible and not failure.persistent
    assert model_failure(isvc({"modelStatus": {"transitionStatus": "InProgress"}})) is None


def test_pod_failures():
    crash = {"metadata": {"name": "p"}, "status": {"containerStatuses": [{
        "name": "ome-container", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}
    [failure] = pod_failures([crash])
    assert failure.reason == ("engine pod p, container ome-container crashed "
                              "(CrashLoopBackOff, reason OOMKilled, exit code 137)")
    assert failure.infeasible
    sidecar = {"metadata": {"name": "p"}, "status": {"containerStatuses": [{
        "name": "sidecar", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    assert not pod_failures([sidecar])[0].infeasible
    init_pull = {"metadata": {"name": "p"}, "status": {"initContainerStatuses": [{
        "name": "model-init", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]}}
    assert pod_failures([init_pull])[0].reason == "engine pod p, container model-init: ErrImagePull: not found"
    assert pod_failures([UNSCHEDULABLE])[0].persistent
    assert pod_failures([{"metadata": {"name": "p"}, "status": {"phase": "Running"}}]) == []


def test_warning_events_count_only_while_the_status_is_empty_and_for_this_object():
    warning = {"type": "Warning", "reason": "ModelReconcileError", "message": "model m not found",
               "involvedObject": {"uid": "u1"}, "lastTimestamp": "2026-01-01T00:00:00Z"}
    failure = event_failure(isvc(), [warning, {**warning, "involvedObject": {"uid": "old"}, "reason": "Other"}])
    assert failure.reason == "OME cannot reconcile the InferenceService: ModelReconcileError: model m not found"
    assert "Other" not in failure.detail
    assert event_failure(isvc({"conditions": [{"type": "Ready", "status": "False"}]}), [warning]) is None
    assert event_failure(isvc(), [{**warning, "type": "Normal"}]) is None


def test_progress_summary():
    ready_false = isvc({"conditions": [{"type": "Ready", "status": "False", "reason": "Initializing"}]})
    assert progress_summary(ready_false, [UNSCHEDULABLE]) == "Ready=False (Initializing); pod p: Pending, not ready"
    assert progress_summary(isvc(), []) == "no status from OME yet; no engine pod"


class StubApi:
    """Answers like the API for an InferenceService that stays Initializing with given pods."""

    def __init__(self, pods_over_time: list[list[dict]], clock: list[float]):
        self.pods_over_time = pods_over_time
        self.clock = clock
        self.rounds = 0

    def get(self, plural, name):
        return isvc({"conditions": [{"type": "Ready", "status": "False", "reason": "Initializing"}]})

    def list_pods(self, selector):
        pods = self.pods_over_time[min(self.rounds, len(self.pods_over_time) - 1)]
        self.rounds += 1
        return pods

    def list_events(self, selector):
        return []

    def wait_for_change(self, plural, name, rv, timeout_s):
        self.clock[0] += timeout_s


def test_unschedulable_fails_only_after_the_grace_period():
    clock = [0.0]
    api = StubApi([[UNSCHEDULABLE]], clock)
    with pytest.raises(StartFailed, match="unschedulable") as caught:
        wait_until_ready(api, "sweep-t1", WaitSettings(ready_timeout_s=600, failure_grace_s=30, watch_timeout_s=10),
                         clock=lambda: clock[0])
    assert clock[0] == 30 and not caught.value.failure.infeasible


def test_a_signal_that_clears_restarts_its_grace_clock():
    clock = [0.0]
    scheduled = {"metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    api = StubApi([[UNSCHEDULABLE], [UNSCHEDULABLE], [scheduled], [UNSCHEDULABLE]], clock)
    with pytest.raises(StartFailed, match="unschedulable"):
        wait_until_ready(api, "sweep-t1", WaitSettings(ready_timeout_s=600, failure_grace_s=25, watch_timeout_s=10),
                         clock=lambda: clock[0])
    assert clock[0] == 60  # seen at 0 and 10, cleared at 20, seen again from 30: fails at the first look >= 55


def test_time_out_names_the_last_state():
    clock = [0.0]
    api = StubApi([[]], clock)
    with pytest.raises(StartFailed, match=r"not Ready after 25s: Ready=False \(Initializing\); no engine pod"):
        wait_until_ready(api, "sweep-t1", WaitSettings(ready_timeout_s=25, watch_timeout_s=10), clock=lambda: clock[0])


@pytest.mark.parametrize("exc, transient", [
    (ApiException(status=500), True), (ApiException(status=503), True), (ApiException(status=429), True),
    (ApiException(status=0), True), (urllib3.exceptions.ProtocolError("reset"), True),
    (ConnectionResetError(), True), (ApiException(status=404), False), (ApiException(status=409), False),
    (ApiException(status=422), False),
])
def test_what_is_transient(exc, transient):
    assert is_transient(exc) is transient


def test_back_off_is_exponential_and_bounded():
    delays: list[float] = []
    calls = iter([ApiException(status=500)] * 5)

    def flaky():
        raise next(calls)

    with pytest.raises(KubeError, match="HTTP 500"):
        call_with_retry("get x", flaky, RetryPolicy(retries=4, base_s=1, max_s=5), sleep=delays.append)
    assert delays == [1, 2, 4, 5]


def test_client_errors_are_raised_at_once():
    delays: list[float] = []

    def not_found():
        raise ApiException(status=404, reason="Not Found")

    with pytest.raises(KubeError) as caught:
        call_with_retry("get x", not_found, RetryPolicy(), sleep=delays.append)
    assert caught.value.status == 404 and delays == []

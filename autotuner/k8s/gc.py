"""Delete a trial's objects and wait until they are really gone; sweep a whole campaign.

"Gone" means the object answers 404 and, for an InferenceService, no engine pod is left: only
then are its GPUs free for the next trial (OME's pods terminate after the object's finalizer
runs; grace period 30 s by default). Used by the engine's teardown, by ``autotuner gc CAMPAIGN``
and at the start of a resumed campaign, which removes what a killed driver left behind::

    removed = collect_garbage("sweep-1", "autotune", make_api_client())
    # ['benchmarkjobs/sweep-1-t0003', 'inferenceservices/sweep-1-t0003']
"""

from __future__ import annotations

import time
from typing import Callable

from kubernetes import client

from autotuner.k8s.api import BENCHMARK_JOBS, DEFAULT_RETRY, INFERENCE_SERVICES, NamespacedApi, RetryPolicy
from autotuner.k8s.names import campaign_selector
from autotuner.k8s.readiness import engine_pod_selector


class DeletionTimeout(TimeoutError):
    """Objects still exist after the deletion deadline (is the OME controller running? it
    removes the finalizer that holds InferenceServices)."""


def is_gone(api: NamespacedApi, plural: str, name: str) -> bool:
    if api.get(plural, name) is not None:
        return False
    return plural != INFERENCE_SERVICES or not api.list_pods(engine_pod_selector(name))


def delete_and_wait(api: NamespacedApi, targets: list[tuple[str, str]], timeout_s: float, poll_s: float,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
    """Delete every ``(plural, name)`` and wait until all are gone; raises :class:`DeletionTimeout`."""
    for plural, name in targets:
        api.delete(plural, name)
    deadline = clock() + timeout_s
    left = list(targets)
    while True:
        left = [(plural, name) for plural, name in left if not is_gone(api, plural, name)]
        if not left:
            return
        if clock() >= deadline:
            raise DeletionTimeout(f"still present after {timeout_s:.0f}s in namespace {api.namespace}: "
                                  + ", ".join(f"{p}/{n}" for p, n in left))
        sleep(poll_s)


def collect_garbage(campaign_id: str, namespace: str, api: client.ApiClient, *, timeout_s: float = 600.0,
                    poll_s: float = 2.0, retry: RetryPolicy = DEFAULT_RETRY) -> list[str]:
    """Delete every BenchmarkJob and InferenceService labelled with ``campaign_id`` and wait until
    they are gone; returns ``plural/name`` of each object deleted."""
    calls = NamespacedApi(api, namespace, retry)
    selector = campaign_selector(campaign_id)
    # BenchmarkJobs first: they point at the InferenceServices.
    targets = [(plural, obj["metadata"]["name"])
               for plural in (BENCHMARK_JOBS, INFERENCE_SERVICES)
               for obj in calls.list(plural, selector)]
    delete_and_wait(calls, targets, timeout_s, poll_s)
    return [f"{plural}/{name}" for plural, name in targets]

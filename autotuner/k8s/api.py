"""The Kubernetes calls the tuner makes, in one namespace, each retried when the failure is transient.

Transient: HTTP 5xx and 429, dropped or refused connections, read time-outs -- retried with
exponential back-off (bounded by :class:`RetryPolicy`). Everything else (4xx) is raised at once
as :class:`KubeError`, with the API server's own message. Custom objects are plain dicts; pods and
events are read as raw JSON too, so no generated model classes sit between the tuner and the
server's answer::

    api = NamespacedApi(make_api_client(), "autotune")
    api.create(INFERENCE_SERVICES, manifest)
    isvc = api.get(INFERENCE_SERVICES, "sweep-t0001")      # None once deleted
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

GROUP = "ome.io"
VERSION = "v1beta1"
INFERENCE_SERVICES = "inferenceservices"
BENCHMARK_JOBS = "benchmarkjobs"

T = TypeVar("T")


class KubeError(RuntimeError):
    """An API call failed for good; ``status`` is the HTTP code (0: no answer at all)."""

    def __init__(self, what: str, status: int, message: str):
        super().__init__(f"{what}: HTTP {status}: {message}" if status else f"{what}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: ``base_s``, ``2*base_s`` ... capped at ``max_s``, ``retries`` times."""

    retries: int = 5
    base_s: float = 0.5
    max_s: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.base_s * 2**attempt)


DEFAULT_RETRY = RetryPolicy()


def make_api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """A client for the cluster: in-cluster credentials in a pod (unless a kubeconfig is named),
    else the kubeconfig file (``$KUBECONFIG`` or ``~/.kube/config``) and its context."""
    configuration = client.Configuration()
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    return client.ApiClient(configuration)


def error_message(exc: BaseException) -> str:
    """The API server's ``Status.message`` when there is one, else the exception text."""
    if isinstance(exc, ApiException):
        try:
            body = json.loads(exc.body or "")
        except (TypeError, ValueError):
            body = None
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
        return str(exc.reason or exc)
    return f"{type(exc).__name__}: {exc}"


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: server-side trouble or no answer, never a client mistake (4xx but 429)."""
    if isinstance(exc, ApiException):
        return exc.status is None or exc.status == 0 or exc.status == 429 or exc.status >= 500
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def call_with_retry(what: str, call: Callable[[], T], policy: RetryPolicy,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, retried on transient failures; raises :class:`KubeError` otherwise."""
    for attempt in range(policy.retries + 1):
        try:
            return call()
        except (ApiException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            if not is_transient(exc) or attempt == policy.retries:
                status = (exc.status or 0) if isinstance(exc, ApiException) else 0
                raise KubeError(what, status, error_message(exc)) from exc
            delay = policy.delay(attempt)
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, error_message(exc), attempt + 1,
                        policy.retries, delay)
            sleep(delay)
    raise AssertionError("unreachable")


class NamespacedApi:
    """OME custom objects, pods, events, pod logs and secrets in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str, retry: RetryPolicy = DEFAULT_RETRY):
        self.api_client = api_client
        self.namespace = namespace
        self.retry = retry
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return call_with_retry(what, call, self.retry)

    # -- OME custom objects ----------------------------------------------------------------
    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create; ``fieldValidation=Strict`` makes a misspelt field an error, not a silent prune."""
        name = body["metadata"]["name"]
        return self._call(f"create {plural}/{name}", lambda: self._custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, body, field_validation="Strict"))

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._call(f"get {plural}/{name}", lambda: self._custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name))
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def list(self, plural: str, label_selector: str) -> list[dict[str, Any]]:
        result = self._call(f"list {plural} {label_selector}", lambda: self._custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, label_selector=label_selector))
        return list(result.get("items") or [])

    def delete(self, plural: str, name: str) -> bool:
        """Ask for deletion (foreground: owned Deployments and pods go first); False if already gone."""
        try:
            self._call(f"delete {plural}/{name}", lambda: self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, propagation_policy="Foreground"))
            return True
        except KubeError as err:
            if err.status == 404:
                return False
            raise

    def watch(self, plural: str, name: str, resource_version: str, timeout_s: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(event type, object)`` for one object's changes after ``resource_version``, for at
        most ``timeout_s`` seconds. Not retried: the caller re-reads the object and watches again."""
        stream = watch.Watch().stream(
            self._custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, plural,
            field_selector=f"metadata.name={name}", resource_version=resource_version,
            timeout_seconds=timeout_s, _request_timeout=(10, timeout_s + 10))
        for event in stream:
            yield event["type"], event["raw_object"]

    def wait_for_change(self, plural: str, name: str, resource_version: str, timeout_s: int) -> None:
        """Return at the object's next change after ``resource_version``, or after ``timeout_s``."""
        try:
            for _ in self.watch(plural, name, resource_version, max(1, timeout_s)):
                return
        except (ApiException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            # Expired resourceVersion (410) or a broken stream: the caller reads the object again.
            log.debug("watch of %s/%s ended: %s", plural, name, exc)
            time.sleep(min(1.0, timeout_s))

    # -- core objects ----------------------------------------------------------------------
    def list_pods(self, label_selector: str) -> list[dict[str, Any]]:
        return self._raw_items(f"list pods {label_selector}", lambda: self._core.list_namespaced_pod(
            self.namespace, label_selector=label_selector, _preload_content=False))

    def list_events(self, field_selector: str) -> list[dict[str, Any]]:
        return self._raw_items(f"list events {field_selector}", lambda: self._core.list_namespaced_event(
            self.namespace, field_selector=field_selector, _preload_content=False))

    def pod_log(self, pod: str, container: str, tail_lines: int, previous: bool = False) -> str:
        response = self._call(f"read log of pod {pod}", lambda: self._core.read_namespaced_pod_log(
            pod, self.namespace, container=container, tail_lines=tail_lines, previous=previous,
            _preload_content=False))
        return response.data.decode("utf-8", "replace")

    def secret_value(self, name: str, key: str) -> str | None:
        """One key of a Secret's data, decoded; None when the Secret or the key does not exist."""
        try:
            response = self._call(f"get secret {name}", lambda: self._core.read_namespaced_secret(
                name, self.namespace, _preload_content=False))
        except KubeError as err:
            if err.status == 404:
                return None
            raise
        encoded = (json.loads(response.data).get("data") or {}).get(key)
        return None if encoded is None else base64.b64decode(encoded).decode("utf-8")

    def _raw_items(self, what: str, call: Callable[[], Any]) -> list[dict[str, Any]]:
        response = self._call(what, call)
        return list(json.loads(response.data).get("items") or [])

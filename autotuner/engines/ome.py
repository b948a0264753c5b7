"""The ``ome`` engine backend: one OME InferenceService per trial on a Kubernetes cluster.

``deploy`` renders the trial's InferenceService (``templates/inferenceservice.yaml.j2``), creates
it, waits until OME reports it Ready (failing fast on a crashed engine, an unschedulable or
image-pulling pod, or reconcile errors), checks that the endpoint answers, and yields its URL.
Leaving the context deletes the object and waits until it and its pods are gone -- also when the
trial failed or was stopped. What a killed driver leaves behind is removed by
:func:`gc_campaign` (every object carries the campaign and trial labels)::

    engine = InferenceServiceEngine(OmeEngineSettings(namespace="autotune", model_name="llama-3-2-1b",
                                                      runtime_name="srt-llama-3-2-1b"))
    with engine.deploy(request) as server:
        run_benchmark(server.base_url, server.served_model_name)

A name clash on create (HTTP 409) is resolved only when the existing object carries this very
trial's labels (a leftover of a killed driver re-running the same trial): it is deleted, waited
for, and the create is retried once. An object of anyone else is never touched: the trial fails
with a clear reason instead.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from kubernetes import client

from autotuner.engines.api_key import redacted_start_errors
from autotuner.engines.base import GPU, DeployRequest, EngineStartError, RunningEngine, TrialSlots
from autotuner.flavors import FLAVORS, DEFAULT_FLAVOR
from autotuner.k8s.api import INFERENCE_SERVICES, KubeError, NamespacedApi, RetryPolicy, make_api_client
from autotuner.k8s.diagnose import condition, is_ready, model_failure
from autotuner.k8s.gc import collect_garbage, delete_and_wait
from autotuner.k8s.manifests import ManifestError, dump_manifest, render_inference_service
from autotuner.k8s.names import CAMPAIGN_LABEL, TRIAL_LABEL, trial_resource_name
from autotuner.k8s.readiness import StartFailed, WaitSettings, wait_until_ready

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

log = logging.getLogger(__name__)

UrlResolver = Callable[[str, str], str]  # (isvc name, namespace) -> base URL
# The endpoint is in-cluster: an HTTP(S)_PROXY meant for the outside must not carry the check.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class OmeEngineSettings:
    """Where and how trials run on OME. Plain fields, so the task spec maps onto them."""

    namespace: str
    model_name: str  # the ClusterBaseModel (or BaseModel in the namespace)
    runtime_name: str | None = None  # ClusterServingRuntime; None: OME picks a compatible one
    flavor: str = DEFAULT_FLAVOR  # the engine the runtime serves (autotuner.flavors)
    version: str | None = None  # its version the flags are written for; None: the newest recorded
    served_model_name: str | None = None  # used when the request names none
    command_override: list[str] | None = None  # replaces the runtime's command (to drop a baked-in flag)
    extra_args: list[str] = field(default_factory=list)  # appended after the tuned flags
    annotations: dict[str, str] = field(default_factory=dict)
    api_key_secret: tuple[str, str] | None = None  # (Secret, key) the engine's --api-key is read from
    api_key: str | None = field(default=None, repr=False)  # its value, to keep it out of failure reasons
    runner_name: str = "ome-container"
    gpu_resource_name: str = "nvidia.com/gpu"
    endpoint_template: str = "http://{name}-engine.{namespace}.svc.cluster.local:8080"
    endpoint_from_status: bool = False  # True: use the URL OME writes to status.url instead
    ready_timeout_s: float = 1800.0
    failure_grace_s: float = 60.0  # Unschedulable / image pull / Warning events must last this long
    watch_timeout_s: int = 10  # pods and events are looked at at least this often while waiting
    endpoint_timeout_s: float = 120.0  # after Ready, until GET <url>/health answers 200
    delete_timeout_s: float = 600.0
    poll_interval_s: float = 2.0  # while waiting for deletion
    api_retries: int = 5
    api_backoff_s: float = 0.5
    api_backoff_max_s: float = 8.0
    kubeconfig: str | None = None  # None: in-cluster credentials in a pod, else ~/.kube/config
    context: str | None = None

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.api_retries, self.api_backoff_s, self.api_backoff_max_s)

    def endpoint(self, name: str, namespace: str) -> str:
        return self.endpoint_template.format(name=name, namespace=namespace)


class OmeTeardownError(RuntimeError):
    """A trial's InferenceService could not be deleted; its GPUs may still be held."""


class _NameTakenError(EngineStartError):
    """The trial's name belongs to an object of someone else: never delete it."""


@dataclass(frozen=True)
class OmeRunningEngine(RunningEngine):
    """A Ready InferenceService; :meth:`check_alive` asks the cluster whether it still is
    (valid inside the ``deploy`` context only: the client is closed on exit)."""

    probe: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)

    def check_alive(self) -> str | None:
        return self.probe() if self.probe is not None else None


class InferenceServiceEngine:
    """:class:`~autotuner.engines.base.EngineBackend` on OME InferenceServices.

    ``api_client_factory`` makes the Kubernetes ``ApiClient`` (default: from the settings'
    kubeconfig, or in-cluster); ``url_resolver`` maps a Ready InferenceService to its base URL
    (default: ``settings.endpoint_template``; tests map it to a local port).
    """

    name = "ome"

    def __init__(self, settings: OmeEngineSettings, api_client_factory: Callable[[], client.ApiClient] | None = None,
                 url_resolver: UrlResolver | None = None):
        self.settings = settings
        self._api_client_factory = api_client_factory or (lambda: make_api_client(settings.kubeconfig, settings.context))
        self._url_resolver = url_resolver or settings.endpoint

    @classmethod
    def from_spec(cls, spec: TaskSpec, api_key: str | None = None) -> InferenceServiceEngine:
        """The backend a task with ``engine.backend: ome`` asks for (``api_key``: the value of the
        Secret ``engine.api_key`` names, only to redact it)."""
        ome = spec.engine.ome
        if ome is None:
            raise ValueError("engine.backend is 'ome' but the task has no engine.ome section")
        ref = spec.engine.api_key
        return cls(OmeEngineSettings(
            namespace=ome.namespace, model_name=ome.base_model, runtime_name=ome.runtime,
            flavor=spec.engine.flavor, version=spec.engine.version,
            served_model_name=spec.model.served_model_name,
            command_override=list(ome.command_override) if ome.command_override else None,
            ready_timeout_s=ome.ready_timeout_s, endpoint_from_status=ome.endpoint == "status-url",
            kubeconfig=ome.kubeconfig, context=ome.context,
            api_key_secret=(ref.secret_name, ref.secret_key) if ref and ref.secret_name else None, api_key=api_key))

    @classmethod
    def trial_slots(cls, spec: TaskSpec) -> TrialSlots:
        """Logical GPUs on the Ray workers: the GPUs the tuner may hold through OME at once."""
        return TrialSlots(GPU, local_ray={"num_gpus": spec.budget.gpus}, missing_hint=(
            "no node of the Ray cluster declares GPU slots, which trials of the ome backend claim: give the "
            "trials worker group a logical GPU count (rayStartParams num-gpus in ray-cluster.yaml, see "
            "docs/kubernetes.md)"))

    @classmethod
    def collect_garbage(cls, spec: TaskSpec, campaign_id: str) -> list[str]:
        """Remove what crashed runs of this campaign left in the task's namespace."""
        return gc_campaign(cls.from_spec(spec).settings, campaign_id)

    def manifest(self, request: DeployRequest) -> dict[str, Any]:
        """The trial's InferenceService; raises :class:`ManifestError`."""
        s = self.settings
        flavor = FLAVORS.get(s.flavor)
        return render_inference_service(
            name=trial_resource_name(request.campaign_id, request.trial_id), namespace=s.namespace,
            campaign_id=request.campaign_id, trial_id=request.trial_id, model_name=s.model_name,
            runtime_name=s.runtime_name,
            engine_flags=flavor.config_argv(request.engine_args, s.version or flavor.newest_version()),
            gpu_count=flavor.gpus_needed(request.engine_args), served_model_name=self._served_model_name(request),
            command=s.command_override or flavor.ome_command(), extra_args=s.extra_args, annotations=s.annotations,
            api_key_secret=s.api_key_secret, runner_name=s.runner_name, gpu_resource_name=s.gpu_resource_name)

    def _served_model_name(self, request: DeployRequest) -> str:
        served = request.served_model_name or self.settings.served_model_name
        if not served:
            raise ManifestError("no served model name", ["set it in the request or in the ome settings"])
        return served

    def deploy(self, request: DeployRequest) -> contextlib.AbstractContextManager[RunningEngine]:
        return self._deployed(request)

    @contextlib.contextmanager
    def _deployed(self, request: DeployRequest) -> Iterator[RunningEngine]:
        started = time.monotonic()
        try:
            manifest = self.manifest(request)
        except ManifestError as err:
            raise EngineStartError(f"cannot build the InferenceService: {err}", infeasible=False) from err
        name, namespace = manifest["metadata"]["name"], self.settings.namespace
        request.work_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = request.work_dir / "inferenceservice.yaml"
        manifest_path.write_text(dump_manifest(manifest))
        try:
            api_client = self._api_client_factory()
        except Exception as err:  # no kubeconfig, no in-cluster token, unknown context ...
            raise EngineStartError(f"cannot load Kubernetes credentials: {err}", infeasible=False) from err
        api = NamespacedApi(api_client, namespace, self.settings.retry)
        try:
            with redacted_start_errors(self.settings.api_key):  # pod logs may show the engine's arguments
                base_url = self._start(api, manifest, request)
            yield OmeRunningEngine(
                base_url=base_url, served_model_name=self._served_model_name(request),
                startup_s=time.monotonic() - started,
                info={"inference_service": name, "namespace": namespace, "manifest": str(manifest_path)},
                probe=lambda: self._why_not_alive(api, name))
        except _NameTakenError:
            raise
        except BaseException:
            self._teardown_quietly(api, name)
            raise
        else:
            self._teardown(api, name)
        finally:
            api_client.close()

    # -- start -----------------------------------------------------------------------------
    def _start(self, api: NamespacedApi, manifest: dict[str, Any], request: DeployRequest) -> str:
        s = self.settings
        name = manifest["metadata"]["name"]
        try:
            self._create(api, manifest, request)
            wait_until_ready(api, name, WaitSettings(
                ready_timeout_s=s.ready_timeout_s, failure_grace_s=s.failure_grace_s,
                watch_timeout_s=s.watch_timeout_s, runner_name=s.runner_name))
        except StartFailed as failed:
            f = failed.failure
            raise EngineStartError(f"InferenceService {name}: {f.reason}", f.detail, infeasible=f.infeasible) from None
        except (KubeError, TimeoutError) as err:  # the API keeps failing, or a leftover will not go
            raise EngineStartError(f"Kubernetes API: {err}", infeasible=False) from err
        base_url = self._status_url(api, name) if s.endpoint_from_status else self._url_resolver(name, s.namespace)
        _wait_until_answers(base_url + FLAVORS.get(s.flavor).ready_paths[0], s.endpoint_timeout_s, name)
        return base_url

    def _create(self, api: NamespacedApi, manifest: dict[str, Any], request: DeployRequest) -> None:
        name = manifest["metadata"]["name"]
        try:
            api.create(INFERENCE_SERVICES, manifest)
            return
        except KubeError as err:
            if err.status != 409:
                raise
        existing = api.get(INFERENCE_SERVICES, name)
        labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        if existing is not None and (labels.get(CAMPAIGN_LABEL), labels.get(TRIAL_LABEL)) != (
                request.campaign_id, request.trial_id):
            raise _NameTakenError(
                f"InferenceService {name} already exists in namespace {self.settings.namespace} and is not "
                f"labelled as trial {request.trial_id} of campaign {request.campaign_id}; delete it or use "
                "another namespace", infeasible=False)
        if existing is not None:
            log.warning("deleting InferenceService %s left over by an earlier run of this trial", name)
            delete_and_wait(api, [(INFERENCE_SERVICES, name)], self.settings.delete_timeout_s,
                            self.settings.poll_interval_s)
        api.create(INFERENCE_SERVICES, manifest)  # a second 409 is raised

    @staticmethod
    def _status_url(api: NamespacedApi, name: str) -> str:
        isvc = api.get(INFERENCE_SERVICES, name) or {}
        url = (isvc.get("status") or {}).get("url")
        if not url:
            raise EngineStartError(f"InferenceService {name} is Ready but has no status.url", infeasible=False)
        return url.rstrip("/")

    @staticmethod
    def _why_not_alive(api: NamespacedApi, name: str) -> str | None:
        try:
            isvc = api.get(INFERENCE_SERVICES, name)
        except KubeError:
            return None  # the API is unreachable right now: no evidence the engine is down
        if isvc is None:
            return f"InferenceService {name} was deleted"
        if (failure := model_failure(isvc)) is not None:
            return failure.reason
        if not is_ready(isvc):
            ready = condition(isvc, "Ready") or {}
            return f"InferenceService {name} is no longer Ready ({ready.get('reason') or 'no reason given'})"
        return None

    # -- teardown --------------------------------------------------------------------------
    def _teardown(self, api: NamespacedApi, name: str) -> None:
        try:
            delete_and_wait(api, [(INFERENCE_SERVICES, name)], self.settings.delete_timeout_s,
                            self.settings.poll_interval_s)
        except (KubeError, TimeoutError) as err:
            raise OmeTeardownError(f"InferenceService {name} was not deleted: {err}; "
                                   f"run `autotuner gc` for its campaign") from err

    def _teardown_quietly(self, api: NamespacedApi, name: str) -> None:
        """Teardown while another exception propagates: that one matters more, so log, don't raise."""
        try:
            self._teardown(api, name)
        except OmeTeardownError as err:
            log.error("%s", err)


def _wait_until_answers(url: str, timeout_s: float, name: str) -> None:
    """OME's Ready can precede the Service's endpoints by a moment: poll until HTTP 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with _NO_PROXY.open(url, timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except OSError as err:
            last = str(err)
        if time.monotonic() >= deadline:
            raise EngineStartError(f"InferenceService {name} is Ready but {url} does not answer: {last}",
                                   infeasible=False)
        time.sleep(min(1.0, timeout_s))


def gc_campaign(settings: OmeEngineSettings, campaign_id: str,
                api_client_factory: Callable[[], client.ApiClient] | None = None) -> list[str]:
    """Delete every InferenceService and BenchmarkJob of ``campaign_id`` in ``settings.namespace``
    and wait until they are gone (``autotuner gc CAMPAIGN``; start of a resumed campaign)."""
    api_client = (api_client_factory or (lambda: make_api_client(settings.kubeconfig, settings.context)))()
    try:
        return collect_garbage(campaign_id, settings.namespace, api_client, timeout_s=settings.delete_timeout_s,
                               poll_s=settings.poll_interval_s, retry=settings.retry)
    finally:
        api_client.close()

"""A stand-in OME controller: for each InferenceService, a local server process and OME's status.

It reacts to the stand-in API server's changes like OME's reconciler does (NOTES.md section 4):
adds the ``inferenceservice.finalizers`` finalizer, writes ``Ready=False/Initializing``, creates
the engine pod, starts the engine command (by default the simulator with the ISVC's
``spec.engine.runner.args``) on a free local port and marks the ISVC Ready once ``/health``
answers; when the process exits early it writes OME's crash status (``BlockedByFailedLoad``,
``FailedToLoad``) and a CrashLoopBackOff pod. On deletion it stops the process, deletes the pods and
removes its finalizer. Like the kubelet, it fills the runner's ``env`` from ``secretKeyRef`` (a
missing Secret or key: ``CreateContainerConfigError``) and expands ``$(VAR)`` in its args.
``behaviour`` makes new services fail in OME's other ways::

    controller = FakeOmeController(api, log_dir=tmp_path).start()
    controller.behaviour = "unschedulable"   # the next ISVC's pod never schedules
    engine = InferenceServiceEngine(settings, url_resolver=controller.url_for)

BenchmarkJobs: once their InferenceService is Ready, ``bench_command`` runs (genai-bench's place)
with the output folder ``pvc_root/<pvc>/<sub-path>/<resultFolderName>`` of ``pvc://<pvc>/<sub-path>``;
its exit code decides ``Completed`` or ``Failed``. Without a ``bench_command`` a job stays Running.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Literal

from .apiserver import FakeApiServer
from .store import ApiError, now_rfc3339

Behaviour = Literal["serve", "never_ready", "unschedulable", "image_pull_backoff", "warning_event"]
EngineCommand = Callable[[dict[str, Any], int], list[str]]
BenchCommand = Callable[[dict[str, Any], str, Path], list[str]]  # (job, engine URL, output folder)

FINALIZER = "inferenceservice.finalizers"
BENCHMARK_FINALIZER = "benchmarkjob.finalizers"
TINY_ENGINE = Path(__file__).with_name("tiny_engine.py")


def _runner_args(isvc: dict[str, Any]) -> list[str]:
    return list(isvc["spec"]["engine"]["runner"].get("args") or [])


class _ContainerConfigError(Exception):
    """What the kubelet reports as CreateContainerConfigError (a Secret or key it cannot find)."""


def _with_env_expanded(isvc: dict[str, Any], read_secret: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The InferenceService as its container runs: the runner's env resolved (values, Secret
    keys) and ``$(VAR)`` in its args replaced; unknown variables stay literal, as in Kubernetes."""
    runner = isvc["spec"]["engine"]["runner"]
    env: dict[str, str] = {}
    for var in runner.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            env[var["name"]] = var.get("value", "")
            continue
        try:
            data = read_secret(ref["name"]).get("data") or {}
        except ApiError:
            raise _ContainerConfigError(f'secret "{ref["name"]}" not found') from None
        if ref["key"] not in data:
            raise _ContainerConfigError(f"couldn't find key {ref['key']} in Secret {ref['name']}")
        env[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
    args = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)
            for arg in _runner_args(isvc)]
    return {**isvc, "spec": {**isvc["spec"], "engine": {**isvc["spec"]["engine"], "runner": {**runner, "args": args}}}}


def simulator_command(isvc: dict[str, Any], port: int) -> list[str]:
    """The simulated SGLang server with the ISVC's args (OME would run the runtime's command)."""
    return [sys.executable, "-m", "autotuner.sim.server", "--sim-engine", "sglang", "--sim-engine-version", "0.5.19",
            "--sim-gpu", "H100", "--sim-model", "Llama-3.2-1B", "--sim-startup-scale", "0",
            "--", "--model-path", "/mnt/models", *_runner_args(isvc), "--host", "127.0.0.1", "--port", str(port)]


def tiny_engine_command(isvc: dict[str, Any], port: int) -> list[str]:
    """A minimal health/models server: fast start for tests that need any engine."""
    return [sys.executable, str(TINY_ENGINE), *_runner_args(isvc), "--host", "127.0.0.1", "--port", str(port)]


def genai_bench_job_command(tokenizer: Path) -> BenchCommand:
    """A BenchmarkJob's genai-bench as OME runs it: argv from the job's spec, results straight into
    the PVC folder, model name ``vllm-model`` (OME passes that name in InferenceService mode)."""
    def command(job: dict[str, Any], url: str, out_dir: Path) -> list[str]:
        spec = job["spec"]
        argv = [sys.executable, "-m", "autotuner.bench.genai_bench_cli", "benchmark", "--api-backend", "sglang",
                "--api-base", url, "--api-key", "none", "--api-model-name", "vllm-model",
                "--model-tokenizer", str(tokenizer), "--task", spec["task"],
                "--max-time-per-run", str(spec["maxTimePerIteration"]),
                "--max-requests-per-run", str(spec["maxRequestsPerIteration"]),
                "--experiment-base-dir", str(out_dir.parent), "--experiment-folder-name", out_dir.name,
                "--log-dir", str(out_dir.parent / f"{out_dir.name}-logs")]
        for scenario in spec["trafficScenarios"]:
            argv += ["--traffic-scenario", scenario]
        for concurrency in spec["numConcurrency"]:
            argv += ["--num-concurrency", str(concurrency)]
        return argv
    return command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _condition(type_: str, ok: bool, reason: str | None = None) -> dict[str, Any]:
    cond = {"type": type_, "status": "True" if ok else "False", "lastTransitionTime": now_rfc3339()}
    if reason:
        cond["reason"] = reason
    return cond


def _pod_status(phase: str, container: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    """A scheduled pod with the runner container in the given state."""
    return {"phase": phase, "conditions": [_condition("PodScheduled", True), _condition("Ready", ready)],
            "containerStatuses": [container]}


def _runner_status(state: dict[str, Any], ready: bool = False, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": "ome-container", "ready": ready, "restartCount": restarts, "state": state, **extra}


def _conditions(ready: bool) -> list[dict[str, Any]]:
    """OME's RawDeployment conditions: Ready aggregates IngressReady and EngineReady."""
    return [
        _condition("IngressReady", True, "IngressDisabled"),
        _condition("EngineReady", ready, None if ready else "Initializing"),
        _condition("Ready", ready, None if ready else "Initializing"),
    ]


class FakeOmeController:
    """Reconciles InferenceServices of a :class:`FakeApiServer` until :meth:`stop`."""

    def __init__(self, api: FakeApiServer, log_dir: Path, command: EngineCommand = simulator_command,
                 behaviour: Behaviour = "serve", health_poll_s: float = 0.05,
                 bench_command: BenchCommand | None = None, pvc_root: Path | None = None,
                 advertise_local_url: bool = False):
        self.api = api
        # True: status.url is the engine's local address, so a tuner in another process (a Ray
        # worker) reaches it through the backend's status-url endpoint mode.
        self.advertise_local_url = advertise_local_url
        self.log_dir = log_dir
        self.command = command
        self.bench_command = bench_command
        self.pvc_root = pvc_root or log_dir / "pvcs"
        self.behaviour: Behaviour = behaviour
        self.health_poll_s = health_poll_s
        self._ports: dict[tuple[str, str], int] = {}
        self._workers: dict[tuple[str, str, str], _IsvcWorker | _BenchmarkJobWorker] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-ome-controller", daemon=True)

    def start(self) -> "FakeOmeController":
        self._thread.start()
        return self

    def stop(self) -> None:
        """The controller goes down: processes stop, finalizers stay (as with OME down)."""
        self._stopping.set()
        self._thread.join(timeout=5)
        for worker in list(self._workers.values()):
            worker.stop_process()

    def url_for(self, name: str, namespace: str) -> str:
        """Where the engine of ISVC ``name`` listens (the URL resolver the tests inject)."""
        return f"http://127.0.0.1:{self._ports[(namespace, name)]}"

    def running_processes(self) -> list[subprocess.Popen]:
        return [w.process for w in self._workers.values() if w.process is not None and w.process.poll() is None]

    def _loop(self) -> None:
        rv = 0
        while not self._stopping.is_set():
            changes, rv = self.api.store.changes_after(rv, 0.2, ["inferenceservices", "benchmarkjobs"])
            for change in changes:
                key = (change.resource, change.namespace, change.obj["metadata"]["name"])
                if change.type == "ADDED":
                    worker = (_IsvcWorker(self, key[1:], self.behaviour) if change.resource == "inferenceservices"
                              else _BenchmarkJobWorker(self, key[1:]))
                    self._workers[key] = worker
                    worker.start()
                elif (change.type == "DELETED" or change.obj["metadata"].get("deletionTimestamp")) and key in self._workers:
                    self._workers[key].deleting.set()


class _IsvcWorker(threading.Thread):
    """The life of one InferenceService, from ADDED to its finalizer's removal."""

    def __init__(self, controller: FakeOmeController, key: tuple[str, str], behaviour: Behaviour):
        super().__init__(name=f"isvc-{key[1]}", daemon=True)
        self.controller = controller
        self.namespace, self.name = key
        self.behaviour = behaviour
        self.deleting = threading.Event()
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.pod_name = f"{self.name}-engine-{secrets.token_hex(5)}-{secrets.token_hex(3)[:5]}"
        self._store = controller.api.store

    def run(self) -> None:
        try:
            self._reconcile()
            self.deleting.wait()
            self._finalize()
        except ApiError:
            self.stop_process()  # the object vanished under us: only the process is left to clean

    # -- writes ----------------------------------------------------------------------------
    def _update_isvc(self, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        return self._store.update("inferenceservices", self.namespace, self.name, mutate)

    def _set_status(self, **status: Any) -> None:
        self._update_isvc(lambda obj: obj.__setitem__("status", status))

    def _set_pod_status(self, status: dict[str, Any]) -> None:
        self._store.update("pods", self.namespace, self.pod_name, lambda pod: pod.__setitem__("status", status))

    def _create_pod(self, isvc: dict[str, Any]) -> None:
        self._store.create("pods", self.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.pod_name, "labels": {
                "ome.io/inferenceservice": self.name, "component": "engine", "app": f"{self.name}-engine"}},
            "spec": {"containers": [{"name": "ome-container", "args": _runner_args(isvc)}]},
            "status": {"phase": "Pending"},
        })
        self.controller.api.pod_logs[(self.namespace, self.pod_name)] = self._read_log

    def _warning_event(self, reason: str, message: str, uid: str) -> None:
        self._store.create("events", self.namespace, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{self.name}.{secrets.token_hex(8)}"},
            "involvedObject": {"apiVersion": "ome.io/v1beta1", "kind": "InferenceService",
                               "name": self.name, "namespace": self.namespace, "uid": uid},
            "reason": reason, "message": message, "type": "Warning", "count": 1,
            "firstTimestamp": now_rfc3339(), "lastTimestamp": now_rfc3339(),
            "source": {"component": "inferenceservice-controller"},
        })

    # -- behaviours ------------------------------------------------------------------------
    def _reconcile(self) -> None:
        def add_finalizer(obj: dict[str, Any]) -> None:
            obj["metadata"]["finalizers"] = [*obj["metadata"].get("finalizers", []), FINALIZER]

        isvc = self._update_isvc(add_finalizer)
        if self.behaviour == "warning_event":  # model/runtime did not resolve: status stays empty
            self._warning_event("RuntimeValidationError", "runtime srt-x does not support model format "
                                "safetensors:1.0.0 of model llama-3-2-1b", isvc["metadata"]["uid"])
            return
        self._set_status(conditions=_conditions(False), modelStatus={
            "transitionStatus": "InProgress", "modelRevisionStates": {"targetModelState": "Loading"}})
        self._create_pod(isvc)
        if self.behaviour == "unschedulable":
            self._set_pod_status({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
                           "available: 3 No preemption victims found for incoming pod."}]})
        elif self.behaviour == "image_pull_backoff":
            waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "lmsysorg/sglang:nope"'}
            self._set_pod_status(_pod_status("Pending", _runner_status({"waiting": waiting})))
        elif self.behaviour == "serve":
            self._serve(isvc)

    def _serve(self, isvc: dict[str, Any]) -> None:
        try:
            isvc = _with_env_expanded(isvc, lambda name: self._store.get("secrets", self.namespace, name))
        except _ContainerConfigError as err:
            waiting = {"reason": "CreateContainerConfigError", "message": str(err)}
            self._set_pod_status(_pod_status("Pending", _runner_status({"waiting": waiting})))
            return
        port = free_port()
        self.controller._ports[(self.namespace, self.name)] = port
        self.log_path = self.controller.log_dir / f"{self.namespace}-{self.name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.controller.command(isvc, port), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        running = {"running": {"startedAt": now_rfc3339()}}
        self._set_pod_status(_pod_status("Running", _runner_status(running)))
        while not self.deleting.is_set():
            code = self.process.poll()
            if code is not None:
                self._crashed(code)
                return
            if self._healthy(port):
                self._set_pod_status(_pod_status("Running", _runner_status(running, ready=True), ready=True))
                url = (self.controller.url_for(self.name, self.namespace) if self.controller.advertise_local_url
                       else f"http://{self.name}.{self.namespace}.svc.cluster.local:8080")
                engine_url = f"http://{self.name}-engine.{self.namespace}.svc.cluster.local"
                self._set_status(conditions=_conditions(True), url=url, address={"url": url},
                                 components={"engine": {"url": engine_url}},
                                 modelStatus={"transitionStatus": "UpToDate", "modelRevisionStates": {
                                     "activeModelState": "Loaded", "targetModelState": "Loaded"}})
                return
            time.sleep(self.controller.health_poll_s)

    def _crashed(self, exit_code: int) -> None:
        """What OME writes when container ome-container terminates with an error."""
        waiting = {"reason": "CrashLoopBackOff",
                   "message": f"back-off 10s restarting failed container=ome-container pod={self.pod_name}"}
        self._set_pod_status(_pod_status("Running", _runner_status(
            {"waiting": waiting}, restarts=1, lastState={"terminated": {"exitCode": exit_code, "reason": "Error"}})))
        self._set_status(conditions=_conditions(False), modelStatus={
            "transitionStatus": "BlockedByFailedLoad",
            "modelRevisionStates": {"targetModelState": "FailedToLoad"},
            "lastFailureInfo": {"reason": "ModelLoadFailed", "exitCode": exit_code,
                                "message": "container ome-container terminated with reason Error", "time": now_rfc3339()}})

    @staticmethod
    def _healthy(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _read_log(self) -> str:
        path = self.log_path
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    # -- deletion --------------------------------------------------------------------------
    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _finalize(self) -> None:
        self.stop_process()
        for pod in self._store.list("pods", self.namespace, lambda p: p["metadata"]["labels"].get(
                "ome.io/inferenceservice") == self.name)[0]:
            self._store.delete("pods", self.namespace, pod["metadata"]["name"])

        def drop_finalizer(obj: dict[str, Any]) -> None:
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers", []) if f != FINALIZER]

        self._update_isvc(drop_finalizer)


class _BenchmarkJobWorker(threading.Thread):
    """The life of one BenchmarkJob: Pending until its ISVC is Ready, Running, then final."""

    def __init__(self, controller: FakeOmeController, key: tuple[str, str]):
        super().__init__(name=f"bench-{key[1]}", daemon=True)
        self.controller = controller
        self.namespace, self.name = key
        self.deleting = threading.Event()
        self.process: subprocess.Popen | None = None
        self._store = controller.api.store

    def _update(self, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        return self._store.update("benchmarkjobs", self.namespace, self.name, mutate)

    def _set_status(self, **status: Any) -> None:
        self._update(lambda job: job.__setitem__("status", {**(job.get("status") or {}), **status}))

    def run(self) -> None:
        try:
            job = self._update(lambda obj: obj["metadata"].__setitem__(
                "finalizers", [*obj["metadata"].get("finalizers", []), BENCHMARK_FINALIZER]))
            self._set_status(state="Pending")
            self._run_job(job)
            self.deleting.wait()
            self.stop_process()

            def drop_finalizer(obj: dict[str, Any]) -> None:
                obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != BENCHMARK_FINALIZER]

            self._update(drop_finalizer)
        except ApiError:
            self.stop_process()

    def _run_job(self, job: dict[str, Any]) -> None:
        target = job["spec"]["endpoint"]["inferenceService"]
        while not self.deleting.is_set():  # OME re-checks the ISVC until it is Ready
            try:
                isvc = self._store.get("inferenceservices", target["namespace"], target["name"])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in isvc.get("status", {}).get("conditions", [])):
                    break
            except ApiError:
                pass
            time.sleep(0.05)
        else:
            return
        pvc, _, sub_path = job["spec"]["outputLocation"]["storageUri"].removeprefix("pvc://").partition("/")
        out_dir = self.controller.pvc_root / pvc / sub_path / job["spec"].get("resultFolderName", self.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        self._set_status(state="Running", startTime=now_rfc3339())
        if self.controller.bench_command is None:
            return  # no benchmark given: it runs until the job is deleted
        url = self.controller.url_for(target["name"], target["namespace"])
        self.process = subprocess.Popen(self.controller.bench_command(job, url, out_dir), start_new_session=True)
        while self.process.poll() is None and not self.deleting.is_set():
            time.sleep(0.05)
        if self.process.returncode == 0:
            self._set_status(state="Completed", completionTime=now_rfc3339())
        elif self.process.returncode is not None:
            self._set_status(state="Failed", failureMessage="Job has reached the specified backoff limit")

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

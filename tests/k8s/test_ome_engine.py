"""The ``ome`` backend end to end against the stand-in API server and OME controller: the real
kubernetes client, real HTTP, real engine processes; every test ends with nothing left over."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from autotuner.engines.base import DeployRequest, EngineBackend, EngineStartError
from autotuner.engines.ome import InferenceServiceEngine, gc_campaign
from autotuner.k8s.api import NamespacedApi, make_api_client
from autotuner.k8s.names import trial_resource_name
from tests.k8s.conftest import (
    CAMPAIGN,
    NAMESPACE,
    leftovers,
    make_engine,
    trial_request,
)
from tests.k8s.standin import FakeOmeController, simulator_command

HANGING_DRIVER = Path(__file__).with_name("standin") / "hanging_driver.py"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_happy_path_create_ready_answer_delete_gone(engine, apiserver, controller, tmp_path):
    assert isinstance(engine, EngineBackend)
    request = trial_request(tmp_path)
    name = trial_resource_name(CAMPAIGN, "t0001")

    with engine.deploy(request) as server:
        isvc = apiserver.store.get("inferenceservices", NAMESPACE, name)
        assert server.base_url == controller.url_for(name, NAMESPACE)
        assert get_json(f"{server.base_url}/v1/models")["data"][0]["id"] == "llama-tuned"
        assert server.served_model_name == "llama-tuned"
        assert server.check_alive() is None
        assert server.info["inference_service"] == name

    runner = isvc["spec"]["engine"]["runner"]
    assert runner["name"] == "ome-container"
    assert runner["args"] == ["--tp-size", "2", "--mem-fraction-static", "0.85", "--served-model-name", "llama-tuned"]
    assert runner["resources"] == {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}
    assert isvc["metadata"]["labels"]["autotuner.io/trial"] == "t0001"
    assert yaml.safe_load((request.work_dir / "inferenceservice.yaml").read_text())["metadata"]["name"] == name
    assert apiserver.calls("delete", "inferenceservices")
    assert leftovers(apiserver, controller) == []


def test_happy_path_with_the_simulated_sglang_server(settings, apiserver, tmp_path):
    log_dir = tmp_path / "engines"
    log_dir.mkdir()
    controller = FakeOmeController(apiserver, log_dir, command=simulator_command).start()
    try:
        engine = make_engine(settings, controller, endpoint_timeout_s=30)
        with engine.deploy(trial_request(tmp_path, tp_size=1, mem_fraction_static=0.8)) as server:
            assert get_json(f"{server.base_url}/v1/models")["data"][0]["id"] == "llama-tuned"
        assert leftovers(apiserver, controller) == []
    finally:
        controller.stop()


def test_teardown_runs_when_the_benchmark_fails(engine, apiserver, controller, tmp_path):
    with pytest.raises(RuntimeError, match="benchmark blew up"):
        with engine.deploy(trial_request(tmp_path)):
            raise RuntimeError("benchmark blew up")
    assert leftovers(apiserver, controller) == []


def test_check_alive_reports_a_service_that_stopped_being_ready(engine, apiserver, controller, tmp_path):
    name = trial_resource_name(CAMPAIGN, "t0001")
    with engine.deploy(trial_request(tmp_path)) as server:
        def not_ready(obj):
            obj["status"]["conditions"][-1].update(status="False", reason="EngineNotReady")
        apiserver.store.update("inferenceservices", NAMESPACE, name, not_ready)
        assert server.check_alive() == f"InferenceService {name} is no longer Ready (EngineNotReady)"
    assert leftovers(apiserver, controller) == []


def test_never_ready_times_out_with_the_last_state(settings, apiserver, controller, tmp_path):
    controller.behaviour = "never_ready"
    engine = make_engine(settings, controller, ready_timeout_s=1.5)
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not become ready")
    assert "not Ready after 2s: Ready=False (Initializing); pod " in caught.value.reason
    assert caught.value.infeasible is False
    assert leftovers(apiserver, controller) == []


def test_failed_to_load_fails_fast_with_the_engine_log(settings, apiserver, controller, tmp_path):
    controller.command = lambda isvc, port: [
        sys.executable, "-c", "print('ValueError: not enough memory for the KV cache; raise --mem-fraction-static');"
        "raise SystemExit(3)"]
    engine = make_engine(settings, controller, ready_timeout_s=15)
    started = time.monotonic()
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not become ready")
    assert time.monotonic() - started < 10  # fast: no waiting for the 15 s timeout
    assert "engine failed to load (BlockedByFailedLoad): ModelLoadFailed" in caught.value.reason
    assert "exit code 3" in caught.value.reason
    assert "not enough memory for the KV cache" in caught.value.log_tail
    assert caught.value.infeasible is True
    assert leftovers(apiserver, controller) == []


@pytest.mark.parametrize("behaviour, reason", [
    ("unschedulable", "is unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
    ("image_pull_backoff", 'container ome-container: ImagePullBackOff: Back-off pulling image "lmsysorg/sglang:nope"'),
    ("warning_event", "OME cannot reconcile the InferenceService: RuntimeValidationError: runtime srt-x does not"),
])
def test_pod_and_reconcile_failures_are_reported(behaviour, reason, engine, apiserver, controller, tmp_path):
    controller.behaviour = behaviour
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not become ready")
    assert reason in caught.value.reason
    assert caught.value.infeasible is False  # infrastructure, not the config's fault
    assert leftovers(apiserver, controller) == []


def test_transient_api_errors_are_retried(engine, apiserver, controller, tmp_path):
    apiserver.inject_fault(status=500, times=2, verb="create", resource="inferenceservices")
    apiserver.inject_fault(status=503, times=1, verb="get", resource="inferenceservices")
    apiserver.inject_fault(reset=True, times=1, verb="list", resource="pods")
    apiserver.inject_fault(status=500, times=2, verb="delete", resource="inferenceservices")
    with engine.deploy(trial_request(tmp_path)) as server:
        assert get_json(f"{server.base_url}/v1/models")
    assert [r.code for r in apiserver.calls("create", "inferenceservices")] == [500, 500, 201]
    assert [r.code for r in apiserver.calls("delete", "inferenceservices")][:3] == [500, 500, 200]
    assert leftovers(apiserver, controller) == []


def test_api_errors_beyond_the_retries_fail_the_start_cleanly(engine, apiserver, controller, tmp_path):
    apiserver.inject_fault(status=500, times=10, verb="create", resource="inferenceservices")
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not start")
    assert "HTTP 500" in caught.value.reason and caught.value.infeasible is False
    assert len(apiserver.calls("create", "inferenceservices")) == 4  # 1 + 3 retries
    assert leftovers(apiserver, controller) == []


def test_client_errors_are_not_retried(engine, apiserver, controller, tmp_path):
    apiserver.inject_fault(status=403, times=1, verb="create", resource="inferenceservices")
    with pytest.raises(EngineStartError, match="HTTP 403"):
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not start")
    assert len(apiserver.calls("create", "inferenceservices")) == 1
    assert leftovers(apiserver, controller) == []


def test_409_from_a_leftover_of_the_same_trial_is_replaced(engine, apiserver, controller, tmp_path):
    stale = engine.manifest(trial_request(tmp_path))
    apiserver.store.create("inferenceservices", NAMESPACE, stale)  # a killed driver's object
    time.sleep(0.2)  # the controller adopts it (finalizer, engine process)
    with engine.deploy(trial_request(tmp_path)) as server:
        assert get_json(f"{server.base_url}/v1/models")
    assert [r.code for r in apiserver.calls("create", "inferenceservices")] == [409, 201]
    assert leftovers(apiserver, controller) == []


def test_409_from_someone_elses_object_fails_and_leaves_it_alone(engine, apiserver, controller, tmp_path):
    foreign = engine.manifest(trial_request(tmp_path))
    foreign["metadata"]["labels"] = {"team": "serving"}
    apiserver.store.create("inferenceservices", NAMESPACE, foreign)
    with pytest.raises(EngineStartError, match="already exists in namespace autotune and is not labelled as trial"):
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not start")
    name = foreign["metadata"]["name"]
    assert apiserver.store.get("inferenceservices", NAMESPACE, name)["metadata"]["labels"] == {"team": "serving"}
    assert not apiserver.calls("delete", "inferenceservices")
    apiserver.store.delete("inferenceservices", NAMESPACE, name)
    _wait_until(lambda: not leftovers(apiserver, controller))


def test_a_killed_driver_leaves_objects_that_gc_removes(settings, apiserver, controller, tmp_path):
    """The driver deploys a trial and is SIGKILLed mid-benchmark; ``autotuner gc`` cleans up."""
    health = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysOk)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    try:
        driver = subprocess.Popen([sys.executable, str(HANGING_DRIVER), settings.kubeconfig, NAMESPACE, CAMPAIGN,
                                   "t0042", f"http://127.0.0.1:{health.server_address[1]}"],
                                  stdout=subprocess.PIPE, text=True)
        assert driver.stdout is not None
        assert driver.stdout.readline().strip() == "READY", "the driver did not get its engine up"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    finally:
        health.shutdown()
        health.server_close()
    name = trial_resource_name(CAMPAIGN, "t0042")
    assert leftovers(apiserver) == [f"inferenceservices/{name}", _only_pod(apiserver)]

    api = NamespacedApi(make_api_client(settings.kubeconfig), NAMESPACE)
    bench = {"apiVersion": "ome.io/v1beta1", "kind": "BenchmarkJob", "metadata": {
        "name": name, "labels": {"autotuner.io/campaign": CAMPAIGN, "autotuner.io/trial": "t0042"}}, "spec": {
        "endpoint": {"inferenceService": {"name": name, "namespace": NAMESPACE}}, "task": "text-to-text",
        "maxTimePerIteration": 1, "maxRequestsPerIteration": 10,
        "outputLocation": {"storageUri": "pvc://results/bench"}}}
    api.create("benchmarkjobs", bench)
    other_campaign = InferenceServiceEngine(settings, url_resolver=controller.url_for)
    with other_campaign.deploy(DeployRequest(campaign_id="other", trial_id="t0001", engine_args={"tp_size": 1},
                                             served_model_name="m", work_dir=tmp_path / "other")):
        removed = gc_campaign(settings, CAMPAIGN)
        assert sorted(removed) == [f"benchmarkjobs/{name}", f"inferenceservices/{name}"]
        assert [o["metadata"]["labels"]["autotuner.io/campaign"]
                for o in apiserver.objects("inferenceservices", NAMESPACE)] == ["other"]  # untouched
    assert gc_campaign(settings, CAMPAIGN) == []
    assert leftovers(apiserver, controller) == []


def _only_pod(apiserver) -> str:
    pods = apiserver.objects("pods", NAMESPACE)
    assert len(pods) == 1
    return f"pods/{pods[0]['metadata']['name']}"


class _AlwaysOk(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_ome_example_task_maps_to_a_valid_inference_service(tmp_path):
    from autotuner.engines.backends import make_backend
    from autotuner.k8s.schema import recorded_crd
    from autotuner.task.load import load_spec

    spec, problems = load_spec(Path(__file__).resolve().parents[2] / "examples" / "ome-llama-3.2-1b.yaml")
    assert problems == []
    engine = make_backend(spec)
    assert isinstance(engine, InferenceServiceEngine)
    manifest = engine.manifest(DeployRequest(campaign_id=spec.name, trial_id="t0001", engine_args={"tp_size": 2},
                                             served_model_name=spec.model.served_model_name, work_dir=tmp_path))
    assert recorded_crd("InferenceService").validate(manifest) == []
    assert manifest["spec"]["model"]["name"] == "llama-3-2-1b"


def test_missing_credentials_are_a_clear_start_error(settings, tmp_path):
    engine = make_engine(settings, controller=None, kubeconfig=str(tmp_path / "no-such-kubeconfig"))
    with pytest.raises(EngineStartError, match="cannot load Kubernetes credentials") as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not start")
    assert caught.value.infeasible is False

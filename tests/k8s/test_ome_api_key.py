"""engine.api_key on the ``ome`` backend: the InferenceService reads the key from a Kubernetes
Secret (env ``valueFrom`` + ``--api-key $(VAR)``, expanded by the kubelet), the manifest never holds
it, the simulated SGLang server behind it refuses requests without it, the driver reads it from
the same Secret for genai-bench, and no failure reason repeats it."""

from __future__ import annotations

import base64
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from autotuner.engines.api_key import ApiKeyError, api_key_for
from autotuner.engines.base import EngineStartError
from autotuner.task.load import require_valid
from tests.k8s.conftest import NAMESPACE, leftovers, make_engine, trial_request
from tests.k8s.standin import FakeApiServer, FakeOmeController, simulator_command

KEY = "sk-ome-7c1e0a93"
SECRET = ("llm-api-key", "api-key")


def put_secret(apiserver: FakeApiServer, name: str = SECRET[0], key: str = SECRET[1], value: str = KEY) -> None:
    apiserver.store.create("secrets", NAMESPACE, {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": name},
        "data": {key: base64.b64encode(value.encode()).decode()}})


def status_of(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def sim_controller(apiserver: FakeApiServer, tmp_path: Path):
    log_dir = tmp_path / "engines"
    log_dir.mkdir()
    controller = FakeOmeController(apiserver, log_dir, command=simulator_command).start()
    yield controller
    controller.stop()


def test_the_inference_service_gets_the_key_from_the_secret(settings, apiserver, sim_controller, tmp_path):
    put_secret(apiserver)
    engine = make_engine(settings, sim_controller, endpoint_timeout_s=30, api_key_secret=SECRET, api_key=KEY)
    request = trial_request(tmp_path, tp_size=1, mem_fraction_static=0.8)
    with engine.deploy(request) as server:
        assert status_of(f"{server.base_url}/v1/models") == 401
        assert status_of(f"{server.base_url}/v1/models", "wrong") == 401
        assert status_of(f"{server.base_url}/v1/models", KEY) == 200
    manifest = (request.work_dir / "inferenceservice.yaml").read_text()
    runner = yaml.safe_load(manifest)["spec"]["engine"]["runner"]
    assert runner["env"] == [{"name": "AUTOTUNER_ENGINE_API_KEY",
                              "valueFrom": {"secretKeyRef": {"name": SECRET[0], "key": SECRET[1]}}}]
    assert runner["args"][-2:] == ["--api-key", "$(AUTOTUNER_ENGINE_API_KEY)"]
    assert KEY not in manifest and KEY not in repr(engine.settings)
    assert leftovers(apiserver, sim_controller) == []


def test_a_missing_secret_fails_the_start_with_the_kubelets_reason(settings, apiserver, sim_controller, tmp_path):
    engine = make_engine(settings, sim_controller, api_key_secret=("no-such-secret", "api-key"), ready_timeout_s=3)
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not start")
    assert 'secret "no-such-secret" not found' in str(caught.value)
    assert leftovers(apiserver, sim_controller) == []


def test_a_crash_log_that_shows_the_key_is_redacted(settings, apiserver, controller, tmp_path):
    put_secret(apiserver)
    controller.command = lambda isvc, port: [
        sys.executable, "-c", "import sys; print('server_args=', sys.argv[1:]); sys.exit('RuntimeError: boom')",
        *isvc["spec"]["engine"]["runner"]["args"]]
    engine = make_engine(settings, controller, api_key_secret=SECRET, api_key=KEY)
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(trial_request(tmp_path)):
            pytest.fail("must not start")
    text = f"{caught.value.reason}\n{caught.value.log_tail}"
    assert "server_args=" in text and "***" in text and KEY not in text
    assert leftovers(apiserver, controller) == []


def ome_task(kubeconfig: Path, secret_name: str = SECRET[0]) -> dict:
    return {
        "name": "keyed", "model": {"name": "meta-llama/Llama-3.2-1B-Instruct", "tokenizer": "/models/tok"},
        "engine": {"backend": "ome", "gpu": "H100", "api_key": {"secret_name": secret_name, "secret_key": SECRET[1]},
                   "ome": {"namespace": NAMESPACE, "base_model": "llama-3-2-1b", "kubeconfig": str(kubeconfig)}},
        "search": {"space": {"tp_size": {"choices": [1]}}},
        "budget": {"trials": 1, "gpus": 1},
    }


def test_the_driver_reads_the_key_from_the_secret_the_task_names(apiserver, kubeconfig):
    put_secret(apiserver)
    assert api_key_for(require_valid(ome_task(kubeconfig))) == KEY
    with pytest.raises(ApiKeyError, match="engine.api_key.secret_name: key 'api-key' of Secret 'other'"):
        api_key_for(require_valid(ome_task(kubeconfig, "other")))
    assert KEY not in require_valid(ome_task(kubeconfig)).to_yaml()


def test_the_best_manifest_keeps_reading_the_key_from_the_secret(kubeconfig, tmp_path):
    from autotuner.results.best_manifest import write_best_manifest

    path = write_best_manifest(require_valid(ome_task(kubeconfig)), {"tp_size": 1}, tmp_path, "keyed-1", "t1")
    runner = yaml.safe_load(path.read_text())["spec"]["engine"]["runner"]
    assert runner["env"][0]["valueFrom"]["secretKeyRef"] == {"name": SECRET[0], "key": SECRET[1]}
    assert "$(AUTOTUNER_ENGINE_API_KEY)" in runner["args"]

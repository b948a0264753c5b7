"""The local process backend against tiny fake servers (tests/engines/fake_engine.py)."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from autotuner.engines import local
from autotuner.engines.base import DeployRequest, EngineBackend, EngineStartError
from autotuner.engines.local import LocalEngineSettings, LocalProcessEngine, meaningful_line
from autotuner.engines.subprocesses import group_members

FAKE_ENGINE = str(Path(__file__).with_name("fake_engine.py"))
ENGINE_ARGS = {"tp_size": 2, "mem_fraction_static": 0.8, "disable_cuda_graph": True}


def request_for(tmp_path: Path, gpu_ids: tuple[str, ...] = ()) -> DeployRequest:
    return DeployRequest(campaign_id="c1", trial_id="t1", engine_args=ENGINE_ARGS,
                         served_model_name="tuned-model", work_dir=tmp_path / "trial", gpu_ids=gpu_ids)


def fake_engine(mode: str, *options: str, **settings) -> LocalProcessEngine:
    settings = {"ready_timeout_s": 20.0, "poll_interval_s": 0.05, "stop_grace_s": 2.0, **settings}
    return LocalProcessEngine(LocalEngineSettings(
        command=[sys.executable, FAKE_ENGINE, "--mode", mode, *options], **settings))


def get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return response.read()


def wait_for_members(pgid: int, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 10
    while len(members := group_members(pgid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def all_gone(processes: list[psutil.Process]) -> bool:
    def running(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False
    return not any(running(p) for p in processes)


# --- command lines (pure) ---------------------------------------------------------------------

GRAPHS_OFF = ["--cuda-graph-backend-decode=disabled", "--cuda-graph-backend-prefill=disabled"]


def test_sglang_command(tmp_path):
    engine = LocalProcessEngine(LocalEngineSettings(
        command="engine", model_path="/models/llama", python="/venv/bin/python",
        extra_args=["--trust-remote-code"]))

    assert engine.command_for(request_for(tmp_path), 31000) == [
        "/venv/bin/python", "-m", "sglang.launch_server", "--model-path", "/models/llama",
        "--host", "127.0.0.1", "--port", "31000", "--served-model-name", "tuned-model",
        "--tp-size", "2", "--mem-fraction-static", "0.8", *GRAPHS_OFF, "--trust-remote-code"]


def test_vllm_command(tmp_path):
    engine = LocalProcessEngine(LocalEngineSettings(command="engine", flavor="vllm", model_path="/models/llama"))
    request = DeployRequest("c", "t", {"tensor_parallel_size": 2, "enforce_eager": True}, "tuned-model", tmp_path)

    assert engine.command_for(request, 31000)[1:] == [
        "serve", "/models/llama", "--host", "127.0.0.1", "--port", "31000", "--served-model-name", "tuned-model",
        "--tensor-parallel-size", "2", "--enforce-eager"]


def test_simulator_command_is_the_sim_options_then_the_engines_server_argv(tmp_path):
    engine = LocalProcessEngine(LocalEngineSettings(
        python="py", sim_gpu="H200", sim_model="Llama-3.1-70B", sim_startup_scale=0.1, sim_seed=7,
        model_path="/models/llama", tokenizer_path="/tok", version="0.5.19"))

    assert engine.command_for(request_for(tmp_path), 31000) == [
        "py", "-m", "autotuner.sim.server", "--sim-engine", "sglang", "--sim-engine-version", "0.5.19",
        "--sim-gpu", "H200", "--sim-model", "Llama-3.1-70B", "--sim-startup-scale", "0.1", "--sim-seed", "7",
        "--", "--model-path", "/models/llama", "--host", "127.0.0.1", "--port", "31000",
        "--served-model-name", "tuned-model", "--tokenizer-path", "/tok", "--tp-size", "2",
        "--mem-fraction-static", "0.8", *GRAPHS_OFF]


def test_custom_command(tmp_path):
    engine = LocalProcessEngine(LocalEngineSettings(command=["vllm-like", "serve"], extra_args=["-x"]))

    assert engine.command_for(request_for(tmp_path), 9) == [
        "vllm-like", "serve", "--host", "127.0.0.1", "--port", "9", "--served-model-name", "tuned-model",
        "--tp-size", "2", "--mem-fraction-static", "0.8", *GRAPHS_OFF, "-x"]


@pytest.mark.parametrize("settings", [dict(command="vllm"), dict(command=[]), dict(command="engine"),
                                      dict(flavor="tgi")])
def test_invalid_settings(settings):
    with pytest.raises(ValueError):
        LocalEngineSettings(**settings)


def test_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    engine = LocalProcessEngine(LocalEngineSettings(env={"SGLANG_FOO": "1"}))

    assert engine.env_for(request_for(tmp_path, gpu_ids=("2", "3")))["CUDA_VISIBLE_DEVICES"] == "2,3"
    unassigned = engine.env_for(request_for(tmp_path))
    assert unassigned["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"  # no ids: left as inherited
    assert unassigned["SGLANG_FOO"] == "1"


def test_meaningful_line():
    assert meaningful_line("a\nValueError: x\n  \nbye") == "ValueError: x"
    assert meaningful_line("a\nb\n") == "b"
    assert meaningful_line("") == "no output"


def test_is_an_engine_backend():
    assert isinstance(LocalProcessEngine(), EngineBackend) and LocalProcessEngine.name == "local"


# --- real processes -------------------------------------------------------------------------------

def test_serves_then_leaves_no_process(tmp_path):
    engine = fake_engine("serve", "--children", "--escaped-child")

    with engine.deploy(request_for(tmp_path, gpu_ids=("2", "3"))) as server:
        info = json.loads(get(server.base_url + "/info"))
        assert get(server.base_url + "/health") == b"ok"
        assert info["cuda_visible_devices"] == "2,3"
        assert info["argv"][-8:] == ["--served-model-name", "tuned-model", "--tp-size", "2",
                                     "--mem-fraction-static", "0.8", *GRAPHS_OFF]
        assert server.served_model_name == "tuned-model" and server.startup_s > 0
        assert server.check_alive() is None
        members = wait_for_members(info["pid"], 3)  # server, child, grandchild
        escaped = [p for p in psutil.Process(info["pid"]).children(recursive=True) if p not in members]
        assert len(members) == 3 and len(escaped) == 1

    assert all_gone(members + escaped)
    assert group_members(info["pid"]) == []
    assert "serving on" in (tmp_path / "trial" / "engine.log").read_text()


def test_exception_inside_the_block_still_kills_everything(tmp_path):
    engine = fake_engine("serve", "--children", "--ignore-sigterm", stop_grace_s=0.5)

    with pytest.raises(KeyError):
        with engine.deploy(request_for(tmp_path)) as server:
            pid = json.loads(get(server.base_url + "/info"))["pid"]
            members = wait_for_members(pid, 3)
            raise KeyError("benchmark blew up")

    assert all_gone(members)  # SIGTERM was ignored: SIGKILL after the grace period did it


def test_crash_at_start_up(tmp_path):
    with pytest.raises(EngineStartError) as error:
        with fake_engine("crash").deploy(request_for(tmp_path)):
            pytest.fail("must not become ready")

    assert error.value.reason == (
        "engine exited with code 3 during start-up: RuntimeError: not enough memory for the KV cache")
    assert "shutting down" in error.value.log_tail and error.value.infeasible


def test_never_ready_times_out(tmp_path):
    started = time.monotonic()

    with pytest.raises(EngineStartError) as error:
        with fake_engine("hang", ready_timeout_s=1.0).deploy(request_for(tmp_path)):
            pytest.fail("must not become ready")

    assert error.value.reason == "not ready after 1s" and error.value.infeasible
    assert "loading weights forever" in error.value.log_tail
    assert time.monotonic() - started < 6


def test_port_clash_is_retried_on_another_port(tmp_path):
    engine = fake_engine("clash", "--marker", str(tmp_path / "clashed-once"))

    with engine.deploy(request_for(tmp_path)) as server:
        assert get(server.base_url + "/health") == b"ok"

    log_text = (tmp_path / "trial" / "engine.log").read_text()
    assert "attempt 1" in log_text and "attempt 2" in log_text


class _ForeignHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def foreign_server(monkeypatch):
    """Another trial's server holding the port our engine is given."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForeignHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(local, "free_port", lambda: server.server_address[1])
    yield server
    server.shutdown()
    server.server_close()


def test_a_foreign_server_on_the_port_is_not_taken_for_ours(tmp_path, foreign_server):
    with pytest.raises(EngineStartError, match="not ready after 1s"):
        with fake_engine("hang", ready_timeout_s=1.0).deploy(request_for(tmp_path)):
            pytest.fail("the foreign server's /health must not count")


def test_port_taken_every_time_is_not_the_configs_fault(tmp_path, foreign_server):
    with pytest.raises(EngineStartError) as error:
        with fake_engine("serve").deploy(request_for(tmp_path)):
            pytest.fail("must not become ready")

    assert error.value.reason == "port taken by another process 3 times in a row"
    assert not error.value.infeasible


def test_check_alive_reports_a_crash_after_start(tmp_path):
    with fake_engine("serve", "--die-after", "0.5").deploy(request_for(tmp_path)) as server:
        deadline = time.monotonic() + 10
        while server.check_alive() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.check_alive() == "engine exited with code 5: serving on " + server.base_url[7:]

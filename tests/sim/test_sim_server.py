"""The wall-clock server as a real subprocess, and the built-in tokenizer."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from autotuner.sim.tokenizer import ensure_tokenizer, is_complete

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*flags: str) -> subprocess.Popen:
    """``python -m autotuner.sim.server <flags>``: the --sim-* options, ``--``, the engine's argv."""
    return subprocess.Popen([sys.executable, "-m", "autotuner.sim.server", *flags], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sim(*options: str, model: str = "Llama-3.1-8B", scale: str = "0") -> list[str]:
    return ["--sim-model", model, "--sim-startup-scale", scale, *options, "--"]


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> list[int]:
    """Poll /health until 200; returns the status codes seen."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            code = requests.get(base + "/health", timeout=2).status_code
            seen.append(code)
            if code == 200:
                return seen
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not ready in {timeout}s; saw {seen}")


def sse_events(resp: requests.Response) -> list:
    events = []
    for line in resp.iter_lines():
        if line.startswith(b"data: "):
            payload = line[6:]
            events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return events


def test_server_serves_health_models_and_streaming_chat(tokenizer_dir):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(*sim(scale="0.1"), "--model-path", str(tokenizer_dir), "--served-model-name", "sim-8b",
                        "--port", str(port))
    try:
        seen = wait_ready(base, proc)
        assert 503 in seen, "health must answer 503 while the modelled start-up runs"
        models = requests.get(base + "/v1/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == ["sim-8b"]

        body = {"model": "sim-8b", "messages": [{"role": "user", "content": "Shall I compare thee to a summer's day?"}],
                "max_tokens": 40, "stream": True, "stream_options": {"include_usage": True},
                "ignore_eos": True, "temperature": 0.0}
        t0 = time.monotonic()
        with requests.post(base + "/v1/chat/completions", json=body, stream=True, timeout=30) as resp:
            assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            events = sse_events(resp)
        elapsed = time.monotonic() - t0
        assert events[-1] == "[DONE]"
        usage = events[-2]
        assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 40
        assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 40
        assert 5 <= usage["usage"]["prompt_tokens"] <= 15  # counted with the built-in tokenizer
        assert events[-3]["choices"][0]["finish_reason"] == "length"
        content = [e["choices"][0]["delta"].get("content", "") for e in events[:-2]]
        assert content[0] and events[0]["choices"][0]["delta"]["role"] == "assistant"
        assert len([c for c in content if c]) < 40  # tokens were coalesced into fewer chunks
        assert 40 * 0.006 < elapsed < 3.0  # ~7 ms per token in real time

        plain = requests.post(base + "/v1/chat/completions", timeout=30, json={
            "model": "sim-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}).json()
        assert plain["usage"]["completion_tokens"] == 5 and plain["choices"][0]["message"]["content"]

        wrong = requests.post(base + "/v1/chat/completions", timeout=10, json={
            "model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        assert wrong.status_code == 404 and "does not exist" in wrong.text

        info = requests.get(base + "/get_server_info", timeout=5).json()
        assert info["simulator"] is True and info["tp_size"] == 1
        assert info["memory_plan"]["max_total_num_tokens"] == info["max_total_num_tokens"] > 100_000
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err  # SIGTERM is a clean shutdown
    assert "SIMULATED sglang 0.5.23" in out and "not the engine" in out


@pytest.mark.parametrize("engine, engine_flags, cached", [
    ("sglang", (), True), ("sglang", ("--disable-radix-cache",), False),
    ("vllm", (), True), ("vllm", ("--no-enable-prefix-caching",), False)])
def test_prompts_sharing_a_system_prompt_hit_the_prefix_cache(tokenizer_dir, engine, engine_flags, cached):
    """The cache matches the token ids of the prompts received over HTTP (SGLang's radix tree,
    vLLM's hashed blocks)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    model = ["--model-path", str(tokenizer_dir)] if engine == "sglang" else [str(tokenizer_dir)]
    proc = start_server("--sim-engine", engine, *sim(), *model, "--port", str(port), *engine_flags)
    system = "You are a careful assistant who answers in sonnets. " * 40
    try:
        wait_ready(base, proc)
        prompts = []
        for question in ("Shall I compare thee to a summer's day?", "When in disgrace with fortune?"):
            body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
                    "max_tokens": 2}
            prompts.append(requests.post(base + "/v1/chat/completions", json=body, timeout=30).json()
                           ["usage"]["prompt_tokens"])
        replica = requests.get(base + "/get_server_info", timeout=5).json()["replicas"][0]
    finally:
        stop(proc)
    assert min(prompts) > 300
    if cached:  # the second request found the system prompt cached (at least 300 of its tokens)
        assert 300 < replica["cached_prompt_tokens"] < prompts[1]
        assert replica["prefix_cache_tokens"] >= prompts[0]
    else:
        assert replica["cached_prompt_tokens"] == replica["prefix_cache_tokens"] == 0


def test_api_key_is_required_everywhere_but_health():
    """--api-key as SGLang has it: 401 without ``Authorization: Bearer <key>``, probes stay open."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key = "sk-sim-0123456789"
    proc = start_server(*sim(), "--model-path", "m", "--served-model-name", "sim-8b", "--port", str(port),
                        "--api-key", key)
    try:
        wait_ready(base, proc)
        chat = {"model": "sim-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
            assert requests.get(base + "/v1/models", headers=headers, timeout=5).status_code == 401
            denied = requests.post(base + "/v1/chat/completions", json=chat, headers=headers, timeout=5)
            assert denied.status_code == 401 and denied.json() == {"error": "Unauthorized"}
        auth = {"Authorization": f"Bearer {key}"}
        assert requests.get(base + "/v1/models", headers=auth, timeout=5).status_code == 200
        ok = requests.post(base + "/v1/chat/completions", json=chat, headers=auth, timeout=30)
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3
        info = requests.get(base + "/get_server_info", headers=auth, timeout=5).text
        assert key not in info
    finally:
        out, err = stop(proc)
    assert key not in out + err


def test_startup_failure_exits_nonzero_with_sglang_message():
    port = free_port()
    proc = start_server(*sim(), "--model-path", "m", "--mem-fraction-static", "0.1", "--port", str(port))
    try:
        proc.wait(timeout=30)
    finally:
        _out, err = stop(proc)
    assert proc.returncode == 1
    assert "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static." in err


def test_unknown_flag_exits_2_with_the_engines_message():
    proc = subprocess.run([sys.executable, "-m", "autotuner.sim.server", *sim(), "--model-path", "m",
                           "--bogus-flag", "1"], check=False, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "sglang serve: error: unrecognized arguments: --bogus-flag 1" in proc.stderr


def test_vllm_flavored_server_round_trip(tokenizer_dir):
    """`vllm serve` arguments: the positional model, /health, /v1/models, a completion."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server("--sim-engine", "vllm", "--sim-engine-version", "0.33.0", *sim(), str(tokenizer_dir),
                        "--host", "127.0.0.1", "--port", str(port), "--served-model-name", "sim-8b",
                        "--gpu-memory-utilization", "0.85", "--max-num-seqs", "64", "--disable-log-requests")
    try:
        wait_ready(base, proc)
        assert requests.get(base + "/health", timeout=5).text == ""
        models = requests.get(base + "/v1/models", timeout=5).json()
        assert [(m["id"], m["owned_by"], m["root"]) for m in models["data"]] == [
            ("sim-8b", "vllm-simulator", str(tokenizer_dir))]
        done = requests.post(base + "/v1/completions", timeout=30, json={
            "model": "sim-8b", "prompt": "Shall I compare thee", "max_tokens": 6}).json()
        assert done["object"] == "text_completion" and done["choices"][0]["text"]
        assert done["usage"]["completion_tokens"] == 6
        info = requests.get(base + "/get_server_info", timeout=5).json()
        plan = info["memory_plan"]
        assert (plan["engine"], plan["engine_version"], plan["max_running_requests"]) == ("vllm", "0.33.0", 64)
        assert plan["static_gib"] == pytest.approx(0.85 * 81559 / 1024, abs=0.01)  # a share of the whole GPU
        assert requests.get(base + "/get_model_info", timeout=5).status_code == 404  # SGLang's route only
        metrics = scrape(base)  # vLLM serves /metrics without a flag
        assert [(m.labels, m.value) for m in metrics["vllm:generation_tokens"] if m.name.endswith("_total")] == [
            ({"model_name": "sim-8b", "engine": "0"}, 6)]
        assert metrics["vllm:prompt_tokens"][0].value == done["usage"]["prompt_tokens"]
        assert {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                "vllm:num_preemptions"} <= set(metrics)
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    assert "SIMULATED vllm 0.33.0" in out


def test_fp8_e5m2_kv_on_hopper_shows_the_triton_switch():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(*sim(), "--model-path", "m", "--port", str(port), "--kv-cache-dtype", "fp8_e5m2")
    try:
        wait_ready(base, proc)
        plan = requests.get(base + "/get_server_info", timeout=5).json()["memory_plan"]
        assert plan["attention_backend"] == "triton"
        assert requests.get(base + "/metrics", timeout=5).status_code == 404  # SGLang without --enable-metrics
        assert any("Setting attention backend to triton" in note for note in plan["notes"])
    finally:
        out, _err = stop(proc)
    assert "attention backend: triton" in out


def scrape(base: str) -> dict[str, list]:
    """/metrics read by Prometheus' own parser: samples by family name."""
    resp = requests.get(base + "/metrics", timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain"), resp.text
    return {f.name: f.samples for f in text_string_to_metric_families(resp.text)}


CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("body, param", [
    ({"max_tokens": 3}, "messages"),
    ({"messages": "hi", "max_tokens": 3}, "messages"),
    ({**CHAT, "max_tokens": 1e400}, "max_tokens"),
    ({**CHAT, "max_tokens": 2.5}, "max_tokens"),
    ({**CHAT, "max_tokens": "many"}, "max_tokens"),
    ({**CHAT, "max_tokens": 0}, "max_tokens"),
    ({**CHAT, "max_completion_tokens": -1}, "max_completion_tokens"),
    ({**CHAT, "stream": True, "stream_options": 5}, "stream_options"),
    ({**CHAT, "stream": True, "stream_options": [1]}, "stream_options"),
    ({**CHAT, "stream_options": {"include_usage": True}}, "stream_options"),
    ({**CHAT, "stream": "yes"}, "stream"),
], ids=["no-messages", "messages-string", "max-tokens-inf", "max-tokens-fraction", "max-tokens-string",
        "max-tokens-zero", "max-completion-negative", "stream-options-number", "stream-options-list",
        "stream-options-without-stream", "stream-string"])
def test_requests_the_engine_refuses_get_400_naming_the_field(sim_server, body, param):
    base, auth = sim_server
    # json.dumps writes 1e400 as Infinity, which is not JSON: send the number as a client would
    data = json.dumps(body).replace("Infinity", "1e400")
    resp = requests.post(base + "/v1/chat/completions", data=data, headers={**auth, "Content-Type": "application/json"},
                         timeout=10)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert (error["param"], error["type"], error["code"]) == (param, "BadRequestError", 400)
    assert param in error["message"] and "Traceback" not in resp.text


@pytest.mark.parametrize("body", [{"max_tokens": 3}, {"prompt": 5}, {"prompt": []}, {"prompt": [1, "x"]}])
def test_a_completion_without_a_prompt_gets_400(sim_server, body):
    base, auth = sim_server
    resp = requests.post(base + "/v1/completions", json=body, headers=auth, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "prompt", resp.text
    ids = requests.post(base + "/v1/completions", json={"prompt": [1, 2, 3], "max_tokens": 2}, headers=auth, timeout=30)
    assert ids.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.fixture(scope="module")
def sim_server():
    """One SGLang-speaking server with --enable-metrics and an API key: (base URL, auth header)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(*sim(), "--model-path", "m", "--served-model-name", "sim-8b", "--port", str(port),
                        "--enable-metrics", "--api-key", "sk-metrics")
    try:
        wait_ready(base, proc)
        yield base, {"Authorization": "Bearer sk-metrics"}
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_sglang_metrics_count_what_was_served(sim_server):
    base, auth = sim_server
    before = scrape(base)  # open without the API key, as SGLang's middleware leaves it
    assert before["sglang:num_running_reqs"][0].labels == {"model_name": "sim-8b"}
    for tokens in (3, 5):
        done = requests.post(base + "/v1/chat/completions", json={**CHAT, "max_tokens": tokens}, headers=auth,
                             timeout=30).json()
        assert done["usage"]["completion_tokens"] == tokens
    after = scrape(base)
    grew = {name: after[name][0].value - before[name][0].value
            for name in ("sglang:generation_tokens", "sglang:prompt_tokens", "sglang:num_requests")}
    assert grew == {"sglang:generation_tokens": 8, "sglang:prompt_tokens": 2 * done["usage"]["prompt_tokens"],
                    "sglang:num_requests": 2}
    for gauge in ("sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:num_used_tokens", "sglang:token_usage"):
        assert after[gauge][0].value == 0  # nothing runs between requests
    assert {"sglang:generation_tokens_total"} <= {s.name for s in after["sglang:generation_tokens"]}


@pytest.mark.parametrize("engine, argv, message", [
    ("sglang", ["--model-path", "m", "--served-model-name", "llama3.1:8b"],
     "AssertionError: served_model_name cannot contain a colon (':') character."),
    ("vllm", ["m", "--max-num-batched-tokens", "16", "--max-num-seqs", "64"],
     "ValueError: max_num_batched_tokens (16) must be greater than or equal to max_num_seqs (64)."),
    ("vllm", ["m", "--tensor-parallel-size", "16"],
     "Value error, World size (16) is larger than the number of available GPUs (8) in this node."),
    ("vllm", ["m", "--tensor-parallel-size", "3"],
     "ValueError: Total number of attention heads (32) must be divisible by tensor parallel size (3)."),
], ids=["sglang-colon", "vllm-batched-tokens", "vllm-world-size", "vllm-heads"])
def test_an_argv_the_engine_refuses_ends_the_simulator_before_it_listens(engine, argv, message):
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "autotuner.sim.server", "--sim-engine", engine,
                           *sim(scale="1"), *argv, "--port", str(port)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert message in done.stderr
    assert "HTTP listening" not in done.stdout, done.stdout


def test_tokenizer_is_idempotent_and_loads_with_autotokenizer(tmp_path, tokenizer_dir):
    assert is_complete(tokenizer_dir)
    mtime = (tokenizer_dir / "tokenizer.json").stat().st_mtime_ns
    assert ensure_tokenizer(tokenizer_dir) == tokenizer_dir
    assert (tokenizer_dir / "tokenizer.json").stat().st_mtime_ns == mtime
    code = ("import sys; from transformers import AutoTokenizer; t = AutoTokenizer.from_pretrained(sys.argv[1]); "
            "ids = t('Shall I compare thee to a summer day?')['input_ids']; assert 3 < len(ids) < 20, ids; "
            "print(t.apply_chat_template([{'role': 'user', 'content': 'hi'}], tokenize=False))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    res = subprocess.run([sys.executable, "-c", code, str(tokenizer_dir)], check=False, capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert "user: hi" in res.stdout


def test_tokenizer_build_survives_a_race(tmp_path):
    target = tmp_path / "tok"
    code = "import sys; from autotuner.sim.tokenizer import ensure_tokenizer; print(ensure_tokenizer(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert is_complete(target)
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no temporary folders left behind


def test_tokenizer_fills_an_existing_empty_folder(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    assert is_complete(ensure_tokenizer(target))

"""The gate that hands a waiting genai-bench its server."""

from __future__ import annotations

import threading
import time

from autotuner.bench.gate import gated_argv, open_gate, wait_for_gate


def test_wait_returns_what_the_gate_was_opened_with(tmp_path):
    gate = tmp_path / "gate.json"
    opener = threading.Timer(0.2, open_gate, args=(gate,), kwargs={"api_base": "http://h:1", "model_name": "m"})
    started = time.monotonic()
    opener.start()
    assert wait_for_gate(gate, poll_s=0.01) == {"api_base": "http://h:1", "model_name": "m"}
    assert time.monotonic() - started >= 0.2
    assert [p.name for p in tmp_path.iterdir()] == ["gate.json"]  # no temporary file left


def test_only_the_server_options_change():
    argv = ["x", "benchmark", "--api-base", "PENDING", "--api-key", "k", "--api-model-name", "PENDING", "--task", "t"]
    assert gated_argv(argv, {"api_base": "http://h:1", "model_name": "m"}) == [
        "x", "benchmark", "--api-base", "http://h:1", "--api-key", "k", "--api-model-name", "m", "--task", "t"]

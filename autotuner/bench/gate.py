"""The gate that lets genai-bench start before the server it will load exists.

genai-bench spends about 5 s importing its dependencies before it sends a request. A trial starts
it while the engine starts up (tens of seconds to minutes) with ``AUTOTUNER_GENAI_BENCH_GATE``
naming a file that does not exist yet; the wrapper (:mod:`autotuner.bench.genai_bench_cli`) does
its imports, then waits for the file. Once the engine is ready the trial writes the server's URL
and model name there, and the wrapper puts them into genai-bench's argv and runs it::

    env[GATE_ENV] = str(gate)               # child: imports, then wait_for_gate(gate)
    ...                                     # parent: the engine comes up
    open_gate(gate, api_base="http://127.0.0.1:31234", model_name="llama")

No genai-bench import here: the test process and the trial import this module.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

GATE_ENV = "AUTOTUNER_GENAI_BENCH_GATE"
GATE_POLL_S = 0.05
# Placeholders in the argv of a genai-bench started before its server: the gate replaces them.
PENDING_API_BASE = "http://server-not-ready-yet"
PENDING_MODEL_NAME = "server-not-ready-yet"
_OPTIONS = {"api_base": "--api-base", "model_name": "--api-model-name"}


def open_gate(path: Path, *, api_base: str, model_name: str) -> None:
    """Give the waiting genai-bench its server (written atomically: it never reads half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"api_base": api_base, "model_name": model_name}))
    os.replace(tmp, path)


def wait_for_gate(path: Path, poll_s: float = GATE_POLL_S) -> dict[str, str]:
    """Block until the gate is open and return its values. No timeout: the trial kills this
    process (its whole group) when the engine never comes up."""
    while not path.exists():
        time.sleep(poll_s)
    return json.loads(path.read_text())


def gated_argv(argv: list[str], values: dict[str, str]) -> list[str]:
    """``argv`` with the values of ``--api-base`` and ``--api-model-name`` taken from the gate.

    >>> gated_argv(["benchmark", "--api-base", "x", "--api-model-name", "y"], {"api_base": "http://h:1", "model_name": "m"})
    ['benchmark', '--api-base', 'http://h:1', '--api-model-name', 'm']
    """
    out = list(argv)
    for key, flag in _OPTIONS.items():
        if key in values and flag in out:
            out[out.index(flag) + 1] = values[key]
    return out


__all__ = ["GATE_ENV", "PENDING_API_BASE", "PENDING_MODEL_NAME", "gated_argv", "open_gate", "wait_for_gate"]

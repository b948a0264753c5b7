"""Helpers shared by the benchmark tests (also importable outside pytest fixtures)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

HERE = Path(__file__).parent
SPECIAL_TOKEN = "<|endoftext|>"


def build_tokenizer_folder(folder: Path, vocab_size: int = 1024) -> Path:
    """Train a small byte-level BPE offline and save a folder ``AutoTokenizer`` can load.

    Only needs ``tokenizers`` (no transformers import): ``tokenizer_config.json`` is written by hand.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    spec = importlib.util.find_spec("genai_bench")  # finds, does not import (no gevent patching)
    sonnet = Path(spec.submodule_search_locations[0]) / "data" / "sonnet.txt"
    corpus = [line for line in sonnet.read_text().splitlines() if line.strip()]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[SPECIAL_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
              **{f"{kind}_token": SPECIAL_TOKEN for kind in ("bos", "eos", "unk", "pad")}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line contains ``text`` (e.g. a test's own tmp folder)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(text in arg for arg in cmdline):
            found.append(proc)
    return found


@contextlib.contextmanager
def running_stub_server(**env: str) -> Iterator[str]:
    """stub_server.py (options as environment variables, e.g. ``STUB_ERROR_RATE="1.0"``) on a
    free port; yields its base URL, kills it at the end."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "stub_server.py")],
                            env={**os.environ, "STUB_PORT": str(port), **env})
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base_url + "/health", timeout=1).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stub server did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield base_url
    finally:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class GenaiBenchResults:
    """Result folders of real genai-bench levels (this venv's genai-bench, through the tuner's
    level server), one level each, with genai-bench's experiment_metadata.json."""

    c1: Path  # D(100,100) at c=1, no errors
    c4: Path  # D(100,100) at c=4, no errors
    with_errors: Path  # D(50,20) at c=2 against a server that fails 30% of the requests with 500
    server_down: Path  # D(50,20) at c=1 against a port nobody listens on: every request failed


def make_genai_bench_results(out_dir: Path) -> GenaiBenchResults:
    """Run the levels of :class:`GenaiBenchResults` against stub_server.py (about 15 s on an idle
    2-core machine, genai-bench's imports included)."""
    from autotuner.bench.genai_bench import BenchmarkError, GenaiBenchLevels, GenaiBenchSettings
    from autotuner.bench.request import LevelRequest

    tokenizer = build_tokenizer_folder(out_dir / "tokenizer")
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer)), out_dir)
    try:
        bench.start()
        with running_stub_server() as url:
            bench.connect(url, "stub-model")
            bench.run_level(LevelRequest("D(100,100)", 1, 20))
            bench.run_level(LevelRequest("D(100,100)", 4, 20))
        with running_stub_server(STUB_ERROR_RATE="0.3") as url:
            bench.connect(url, "stub-model")
            bench.run_level(LevelRequest("D(50,20)", 2, 40))
        bench.connect(f"http://127.0.0.1:{free_port()}", "stub-model")
        with contextlib.suppress(BenchmarkError):  # "all N requests failed": the file stays
            bench.run_level(LevelRequest("D(50,20)", 1, 8))
    finally:
        bench.close()
    return GenaiBenchResults(*(bench.level_dir(n) for n in (1, 2, 3, 4)))

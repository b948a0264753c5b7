"""Fixtures for the benchmark tests: an offline tokenizer folder and a stub OpenAI server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .helpers import HERE, build_tokenizer_folder, free_port


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tokenizer_folder(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def stub_server() -> Iterator[Callable[..., str]]:
    """Factory: ``stub_server(STUB_ERROR_RATE="1.0")`` starts the stub, returns its base URL."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(HERE / "stub_server.py")],
                                env={**os.environ, "STUB_PORT": str(port), **env})
        started.append(proc)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base_url + "/health", timeout=1).close()
                return base_url
            time.sleep(0.1)
        raise RuntimeError("stub server did not start")

    yield start
    for proc in started:
        proc.kill()
        proc.wait()

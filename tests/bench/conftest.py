"""Fixtures for the benchmark tests: an offline tokenizer folder and a stub OpenAI server."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .helpers import build_tokenizer_folder, running_stub_server


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tokenizer_folder(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def stub_server() -> Iterator[Callable[..., str]]:
    """Factory: ``stub_server(STUB_ERROR_RATE="1.0")`` starts the stub, returns its base URL."""
    with contextlib.ExitStack() as started:
        yield lambda **env: started.enter_context(running_stub_server(**env))

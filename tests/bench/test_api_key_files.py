"""The engine's API key never reaches a file or the process list through genai-bench, not even
while a level runs: a trial killed hard mid-level (SIGKILL, nothing scrubbed after it) leaves no
copy. Real genai-bench against a stub server that answers 401 without the key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autotuner.bench.level_server import records_path
from tests.conftest import REPO

from .helpers import processes_mentioning

pytestmark = pytest.mark.integration

SECRET = "sk-never-on-disk-7c3f19"
# One trial's benchmark, as trainables/engine_trial.py runs it, in a process of its own to kill.
TRIAL = """
import os, sys
from autotuner.bench.genai_bench import GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.request import LevelRequest
bench = GenaiBenchLevels(GenaiBenchSettings(sys.argv[1], api_key=os.environ.pop("TRIAL_KEY")), sys.argv[2])
bench.connect(sys.argv[3] + "/v1", "stub-model")
bench.run_level(LevelRequest("D(20,10)", 2, 2000))
"""


def files_holding(root: Path, text: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def answered(records: Path) -> list[bool]:
    """Whether each request the level finished so far succeeded (the server checks the key)."""
    lines = records.read_text().splitlines() if records.exists() else []
    return [not json.loads(line)["error"] for line in lines[:-1]]  # the last may be half-written


def test_a_trial_killed_mid_level_leaves_no_key_behind(tmp_path, tokenizer_dir, stub_server):
    base_url = stub_server(STUB_API_KEY=SECRET, STUB_TTFT_MS="20")
    out = tmp_path / "trial"
    trial = subprocess.Popen([sys.executable, "-c", TRIAL, str(tokenizer_dir), str(out), base_url],
                             env={**os.environ, "TRIAL_KEY": SECRET}, cwd=REPO, start_new_session=True)
    run_dir = out / "genai-bench"
    records = records_path(run_dir / "requests", 1)
    try:
        deadline = time.monotonic() + 180
        while len(answered(records)) < 5:
            assert trial.poll() is None and time.monotonic() < deadline, "the level did not get going"
            time.sleep(0.2)
        assert all(answered(records)), "requests failed: the server did not get the key"
        assert processes_mentioning(SECRET) == []  # not in any command line
    finally:
        os.killpg(trial.pid, signal.SIGKILL)  # the whole trial, at once: nothing is scrubbed after this
        trial.wait()
    deadline = time.monotonic() + 30
    while processes_mentioning(str(run_dir)):  # genai-bench follows its parent (die_with_parent)
        assert time.monotonic() < deadline, "genai-bench outlived its trial"
        time.sleep(0.2)

    metadata = run_dir / "level-1" / "experiment_metadata.json"
    log = run_dir / "logs" / "level-1" / "genai_bench.log"
    assert metadata.is_file() and log.is_file() and (run_dir / "logs" / "console.log").is_file()
    assert "--api-key ***" in json.loads(metadata.read_text())["cmd"]
    assert "api_key: ***" in log.read_text()
    assert files_holding(out, SECRET) == []

"""CI cannot pass by not testing: a hang fails its test, a skip or an empty run fails the CI run,
and a missing ../shared fails the tests that read it. Each check runs pytest as CI does, in a
child process, on a small test file of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_pytest(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120
               ) -> subprocess.CompletedProcess:
    """``python -m pytest`` from the repository root with this project's configuration and hooks."""
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
                           "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_every_test_has_a_timeout(request):
    assert request.config.pluginmanager.hasplugin("timeout")
    assert float(request.config.getini("timeout")) > 0


def test_a_hanging_test_fails_instead_of_stalling(tmp_path):
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_hang():\n    time.sleep(600)\n")
    done = run_pytest([str(tmp_path / "test_hang.py"), "-o", "timeout=2"], timeout=60)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Timeout" in done.stdout and "1 failed" in done.stdout


@pytest.fixture
def one_pass_one_skip(tmp_path) -> Path:
    path = tmp_path / "test_some.py"
    path.write_text("import pytest\n\ndef test_ok():\n    pass\n\n"
                    "@pytest.mark.skip(reason='not today')\ndef test_skipped():\n    pass\n")
    return path


def test_the_summary_always_counts_skips_and_ci_fails_on_any(one_pass_one_skip):
    hooks = ["-p", "tests.conftest"]
    relaxed = run_pytest([*hooks, str(one_pass_one_skip)], env={"AUTOTUNER_NO_SKIPS": "0"})
    assert relaxed.returncode == 0 and "skipped: 1 (ran 1)" in relaxed.stdout, relaxed.stdout[-2000:]
    strict = run_pytest([*hooks, str(one_pass_one_skip)], env={"AUTOTUNER_NO_SKIPS": "1"})
    assert strict.returncode == 1 and "skipped: 1 (ran 1)" in strict.stdout, strict.stdout[-2000:]
    clean = run_pytest([*hooks, str(one_pass_one_skip), "-k", "ok"], env={"AUTOTUNER_NO_SKIPS": "1"})
    assert clean.returncode == 0 and "skipped: 0 (ran 1)" in clean.stdout, clean.stdout[-2000:]
    nothing = run_pytest([*hooks, str(one_pass_one_skip), "-k", "no_such_test"], env={"AUTOTUNER_NO_SKIPS": "1"})
    assert nothing.returncode != 0


def test_a_missing_shared_folder_fails_the_tests_that_read_it():
    done = run_pytest(["tests/bench/test_parse.py", "tests/k8s/test_schema.py"],
                      env={"AUTOTUNER_SHARED_DIR": "/nonexistent/shared", "AUTOTUNER_NO_SKIPS": "0"})
    assert done.returncode == 1, done.stdout[-3000:]
    assert "skipped: 0" in done.stdout and "/nonexistent/shared is missing" in done.stdout, done.stdout[-3000:]

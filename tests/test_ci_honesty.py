"""CI cannot pass by not testing: a hang fails its test, a skip or an empty run fails the CI run,
and the tests need nothing outside the repository. Each check runs pytest as CI does, in a child
process."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import phase_within

REPO = Path(__file__).resolve().parents[1]


def run_pytest(args: list[str], *, env: dict[str, str | None] | None = None, timeout: float = 120,
               repo: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m pytest`` from the root of ``repo`` with its configuration and hooks; ``env``
    adds to this process's environment (None removes a variable)."""
    merged = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(repo / "pyproject.toml"), "--rootdir", str(repo),
                           "-p", "no:cacheprovider", *args],
                          cwd=repo, capture_output=True, text=True, timeout=timeout, env=merged)


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


def test_the_tests_that_once_read_the_shared_folder_pass_in_a_copy_with_nothing_beside_it(tmp_path):
    """The CRD facts and genai-bench result files come with the repository or are made by the
    tests: in a copy of the repository with no ../shared next to it, those tests pass."""
    copy = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    assert not (copy.parent / "shared").exists()
    env = {"PYTHONPATH": str(copy), "AUTOTUNER_NO_SKIPS": "1", "AUTOTUNER_CRD_DIR": None}
    imported = subprocess.run([sys.executable, "-c", "import autotuner; print(autotuner.__file__)"], cwd=copy,
                              env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True,
                              check=True).stdout
    assert imported.startswith(str(copy)), imported  # the copy's code runs, not this checkout's
    done = run_pytest(["tests/k8s/test_schema.py", "tests/k8s/test_crd_facts.py", "tests/bench/test_parse.py"],
                      env=env, timeout=240, repo=copy)
    assert done.returncode == 0 and "skipped: 0" in done.stdout, done.stdout[-3000:]


def test_a_slow_phase_fails_saying_what_was_slow_and_how_busy_the_machine_was():
    with pytest.raises(pytest.fail.Exception,
                       match=r"^sleeping did not end within 1s \(gave up after \d+s; load average [\d.]+ "
                             r"\(5 min: [\d.]+\) on \d+ CPUs\); 3 of 5 steps done$"):
        with phase_within(1, "sleeping", lambda: "3 of 5 steps done") as limit:
            subprocess.run(["sleep", "30"], timeout=limit)


def test_readme_and_ci_install_with_the_same_script():
    """README's test command and .ci/run both run scripts/setup-tests, then the same pytest."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("Run the tests"):]
    command = section[section.index("```bash") + len("```bash"):section.index("```", section.index("```bash") + 7)]
    assert command.strip() == "bash scripts/setup-tests && .venv/bin/python -m pytest"
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert "bash scripts/setup-tests" in ci
    assert ci[-1] == "AUTOTUNER_NO_SKIPS=1 .venv/bin/python -m pytest"
    script = (REPO / "scripts" / "setup-tests").read_text()
    assert '-c constraints.txt -e ".[test]"' in script and "apt-get install -y chromium" in script
    assert "playwright install" not in script.replace("never `playwright install`", "")
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / "setup-tests")]).returncode == 0

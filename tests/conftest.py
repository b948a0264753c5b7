"""Shared fixtures. Integration tests that need Ray share ONE session-scoped local instance
(ray.init costs 5-7 s on 2 cores).

CI honesty: the summary always says how many tests were skipped, and with
``AUTOTUNER_NO_SKIPS=1`` (set by .ci/run) a run that skipped any test, or ran none, fails.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# Must be set before ray is imported.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token prompts in tests
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

from pathlib import Path  # noqa: E402
from typing import Callable, Iterator  # noqa: E402

import psutil  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NO_SKIPS_ENV = "AUTOTUNER_NO_SKIPS"


def _counts(config: pytest.Config) -> tuple[int, int]:
    """(tests skipped, tests run) so far, from the terminal reporter's tallies."""
    stats = config.pluginmanager.get_plugin("terminalreporter").stats
    ran = sum(1 for key in ("passed", "failed", "error", "xfailed", "xpassed")
              for report in stats.get(key, []) if getattr(report, "when", "call") == "call")
    return len(stats.get("skipped", [])), ran


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped, ran = _counts(config)
    strict = os.environ.get(NO_SKIPS_ENV) == "1"
    terminalreporter.write_line(f"skipped: {skipped} (ran {ran})"
                                + (f"; {NO_SKIPS_ENV}=1 fails a run that skips any test or runs none" if strict else ""))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get(NO_SKIPS_ENV) != "1" or session.config.pluginmanager.get_plugin("terminalreporter") is None:
        return
    skipped, ran = _counts(session.config)
    if (skipped or not ran) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray with 4 slots for simulated trials and 4 logical GPUs (trials of the ome
    backend); never attaches to a `ray start` cluster on the box."""
    import ray

    from autotuner.campaign.placement import SIMULATED_GPU

    ray.init(address="local", num_cpus=2, num_gpus=4, resources={SIMULATED_GPU: 4}, include_dashboard=False,
             log_to_driver=True, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def genai_bench_results(tmp_path_factory):
    """Result files of real genai-bench levels against the stub server (tests/bench/helpers.py),
    made once per session: two normal levels, one with errors, one against a server that is down."""
    from tests.bench.helpers import make_genai_bench_results

    return make_genai_bench_results(tmp_path_factory.mktemp("genai-bench-results"))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """The simulator's built-in tokenizer, built once per session."""
    from autotuner.sim.tokenizer import ensure_tokenizer

    return ensure_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


def stop_cluster(temp_dir: str) -> None:
    """Stop the cluster whose session lives in ``temp_dir``, and only it: `ray stop` would kill
    every Ray process on the machine, other people's clusters included. Its daemons name the
    folder on their command line; workers, agents, job drivers and engines are their descendants."""
    me = psutil.Process()
    spared = {me.pid, *(p.pid for p in me.parents())}  # whoever asked may name the folder too
    roots = [p for p in psutil.process_iter(["cmdline"])
             if temp_dir in " ".join(p.info["cmdline"] or []) and p.pid not in spared]
    family = {p.pid: p for p in roots}
    for p in roots:
        try:
            family.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    for p in family.values():
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(family.values()), timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def machine_load() -> str:
    """How busy this machine is, for the message of a test that ran out of time."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min: {five:.1f}) on {os.cpu_count()} CPUs"


@contextlib.contextmanager
def phase_within(limit_s: float, what: str, progress: Callable[[], str] | None = None) -> Iterator[float]:
    """Run one phase of a long end-to-end test whose subprocess calls time out after ``limit_s``
    (yielded); past it, fail saying which phase was slow, after how long, how busy the machine
    was and ``progress()`` (how far it got). The test's own @pytest.mark.timeout must exceed the
    sum of its phases, so that this message, not the bare timeout, reports a slow machine."""
    started = time.monotonic()
    try:
        yield limit_s
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not end within {limit_s:.0f}s (gave up after {time.monotonic() - started:.0f}s; "
                    f"{machine_load()}){f'; {progress()}' if progress else ''}", pytrace=False)


def ray_env() -> dict[str, str]:
    """The environment of a `ray start` cluster for tests: this venv first on PATH (so a job's
    `autotuner` entrypoint resolves), no token auth, no RAY_ADDRESS of the caller."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return env


SIMULATED_SLOTS = '--resources={"simulated_gpu": 4}'
JOB_AGENT_START_S = 90


def wait_for_job_agent(agent_port: int, temp_dir: str) -> None:
    """Return once the head's dashboard agent listens: `ray start` returns before it does, and
    `ray job submit` fails meanwhile ("No available agent"). An agent that cannot take its port
    never comes up; fail then with its log, not with a job that cannot be submitted."""
    deadline = time.monotonic() + JOB_AGENT_START_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", agent_port), timeout=2):
            return
        time.sleep(0.5)
    logs = sorted(Path(temp_dir).glob("session_latest/logs/dashboard_agent*.log"))
    tail = logs[-1].read_text(errors="replace")[-3000:] if logs else "(no dashboard_agent log)"
    pytest.fail(f"the Ray head's job agent did not listen on port {agent_port} within {JOB_AGENT_START_S} s "
                f"({machine_load()}); its log ends:\n{tail}", pytrace=False)


@contextlib.contextmanager
def ray_head(gcs_port: int, dashboard_port: int, client_port: int, agent_port: int, prefix: str,
             node_args: tuple[str, ...] = (SIMULATED_SLOTS,), env_over: dict[str, str | None] | None = None,
             cwd: Path | None = None) -> Iterator[dict[str, str]]:
    """`ray start --head` without GPUs, with ``node_args`` (default: 4 slots for simulated trials),
    on ports of its own; stopped (only it) at the end. Yields the environment to run
    `ray`/`autotuner` commands against it (``env_over`` also reaches the cluster's processes; a
    None value removes the variable)."""
    env = {k: v for k, v in {**ray_env(), **(env_over or {})}.items() if v is not None}
    temp_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: unix socket paths must fit 107 bytes
    try:
        subprocess.run([str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={gcs_port}",
                        f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={client_port}",
                        f"--dashboard-agent-listen-port={agent_port}", "--dashboard-host=127.0.0.1",
                        "--num-cpus=2", "--num-gpus=0", *node_args, f"--temp-dir={temp_dir}"],
                       check=True, env=env, capture_output=True, timeout=120, cwd=cwd)
        wait_for_job_agent(agent_port, temp_dir)
        yield env
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)

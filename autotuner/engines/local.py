"""Local process backend: the trial's engine is a child process of the trial on this machine.

The engine is the real engine of a flavor (``python -m sglang.launch_server ...``,
``vllm serve ...``), the simulator speaking that flavor's command line
(``python -m autotuner.sim.server --sim-engine <flavor> --sim-engine-version <v> --sim-* ... --
<the engine's server argv>``), or any OpenAI-compatible server given as an argv prefix, to which
the tuner appends ``--host 127.0.0.1 --port P --served-model-name N`` and the config's flags::

    backend = LocalProcessEngine(LocalEngineSettings(command="simulator", sim_gpu="H100",
                                                     sim_model="Llama-3.1-8B"))
    with backend.deploy(request) as server:   # EngineStartError when it cannot come up
        ...                                   # server.base_url answers; server.check_alive()

The server runs in its own process group (so teardown reaches its workers and their children)
and gets SIGKILL if the trial's worker dies (``PR_SET_PDEATHSIG``). Its stdout and stderr go to
``work_dir/engine.log``. GPUs: ``CUDA_VISIBLE_DEVICES`` is the comma-joined ``request.gpu_ids``;
with no ids (no GPUs assigned, e.g. the simulator outside Ray) the variable is left as this process
has it. The server must listen from inside its process group: readiness also checks that the
port's listener is ours, not a server another trial started on the same port in the meantime.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import psutil

from autotuner.engines.api_key import redact_argv, redacted_start_errors, scrub_file
from autotuner.flavors.api_key_names import API_KEY_FLAG
from autotuner.engines.base import (GPU, SIMULATED_GPU, DeployRequest, EngineStartError, RunningEngine, TrialSlots,
                                    tail_lines)
from autotuner.flavors import DEFAULT_FLAVOR, FLAVORS, EngineFlavor
from autotuner.engines.subprocesses import (
    die_with_parent,
    env_with_package_on_path,
    group_members,
    stop_process_group,
)

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

log = logging.getLogger(__name__)

SIMULATOR = "simulator"
ENGINE = "engine"
HOST = "127.0.0.1"
PORT_ATTEMPTS = 3
# A GPU process can take many seconds to vanish after SIGKILL while the driver frees its memory;
# the next trial on that GPU must not start before.
GONE_TIMEOUT_S = 60.0
_PORT_CLASH = re.compile(r"address already in use", re.IGNORECASE)
# A line worth showing as the reason: most servers end a failed start-up with one of these.
_MEANINGFUL = re.compile(r"error|exception|fail|fatal|killed|out of memory|not enough", re.IGNORECASE)
# Readiness probes go straight to 127.0.0.1, whatever http_proxy says.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class LocalEngineSettings:
    """How the local backend starts engines.

    >>> LocalEngineSettings(command="engine", flavor="vllm", model_path="/models/llama-3.1-8b").command
    'engine'
    """

    command: str | list[str] = SIMULATOR  # "simulator" | "engine" | argv prefix of any server
    flavor: str = DEFAULT_FLAVOR  # the engine (and the command line the simulator speaks)
    version: str | None = None  # its version the flags are written for; None: the newest recorded
    model_path: str | None = None  # the weights folder the engine (or the simulator) is given
    python: str = sys.executable  # interpreter that runs a `python -m` engine or the simulator
    sim_gpu: str = "H100"
    sim_model: str = "Llama-3.1-8B"
    sim_startup_scale: float = 1.0  # < 1 shortens the simulated start-up (tests, demos)
    sim_seed: int | None = None
    tokenizer_path: str | None = None  # the simulator's tokenizer folder
    extra_args: list[str] = field(default_factory=list)  # appended to every command
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment
    api_key: str | None = field(default=None, repr=False)  # passed as --api-key, redacted from logs
    ready_timeout_s: float = 900.0  # from start until /health or /v1/models answers 200
    poll_interval_s: float = 0.25
    stop_grace_s: float = 15.0  # between SIGTERM and SIGKILL at teardown

    def __post_init__(self) -> None:
        if isinstance(self.command, str) and self.command not in (SIMULATOR, ENGINE):
            raise ValueError(
                f"command must be {SIMULATOR!r}, {ENGINE!r} or an argv list, not {self.command!r}"
            )
        if not isinstance(self.command, str) and not self.command:
            raise ValueError("an explicit command needs at least the program")
        if self.command == ENGINE and not self.model_path:
            raise ValueError("command 'engine' needs model_path")
        if self.flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {self.flavor!r}")

    @property
    def engine_flavor(self) -> EngineFlavor:
        return FLAVORS.get(self.flavor)

    @property
    def engine_version(self) -> str:
        return self.version or self.engine_flavor.newest_version()


@dataclass(frozen=True)
class LocalRunningEngine(RunningEngine):
    """A running local engine; :meth:`check_alive` looks at the process itself."""

    process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def check_alive(self) -> str | None:
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return None
        last = meaningful_line(tail_lines(self.log_path, 20)) if self.log_path else ""
        return f"engine exited with {exit_text(code)}: {last}"


class _PortClash(Exception):
    """The engine could not bind its port: another process took it after we picked it."""


class LocalProcessEngine:
    """The ``local`` engine backend (see the module docstring)."""

    name = "local"

    def __init__(self, settings: LocalEngineSettings | None = None):
        self.settings = settings or LocalEngineSettings()

    @classmethod
    def from_spec(cls, spec: TaskSpec, api_key: str | None = None) -> LocalProcessEngine:
        """The backend a task with ``engine.backend: local`` asks for (``api_key``: passed to the server)."""
        local = spec.engine.local
        command = local.command if isinstance(local.command, str) else list(local.command)
        return cls(LocalEngineSettings(
            command=command,
            flavor=spec.engine.flavor,
            version=spec.engine.version,
            model_path=spec.model.path or spec.model.tokenizer or spec.model.name,
            sim_gpu=spec.engine.gpu,
            sim_model=spec.model.name,
            sim_startup_scale=local.startup_time_scale,
            sim_seed=spec.seed,
            tokenizer_path=spec.model.tokenizer,
            extra_args=list(local.extra_args),
            env=dict(local.env),
            ready_timeout_s=local.ready_timeout_s,
            api_key=api_key,
            **({"python": local.python} if local.python else {}),
        ))

    @classmethod
    def trial_slots(cls, spec: TaskSpec) -> TrialSlots:
        """The simulator claims ``simulated_gpu`` slots (it needs no GPU, and on a cluster with GPUs
        must not take real ones); a real engine claims Ray's GPUs."""
        if spec.engine.simulated:
            return TrialSlots(SIMULATED_GPU, local_ray={"resources": {SIMULATED_GPU: spec.budget.gpus}}, missing_hint=(
                "no node of the Ray cluster offers the 'simulated_gpu' resource that simulated trials claim "
                "(tensor x data parallel size units each; no real GPU is used): start the cluster with "
                "`ray start --head --resources='{\"simulated_gpu\": 8}'` (KubeRay: rayStartParams.resources), "
                "or run `autotuner run` without RAY_ADDRESS to use a local Ray of its own"))
        return TrialSlots(GPU, missing_hint=(
            "no node of the Ray cluster has GPUs, and each trial of a real engine needs tensor x data parallel size of them "
            "on one node: run on nodes with GPUs, or try the tuner on the simulator "
            "(engine.local.command: simulator)"))

    @classmethod
    def collect_garbage(cls, spec: TaskSpec, campaign_id: str) -> None:
        """Nothing: every engine is a process of its trial, gone with it."""
        return None

    def command_for(self, request: DeployRequest, port: int) -> list[str]:
        """The engine's argv for ``request`` on ``port``.

        >>> engine = LocalProcessEngine(LocalEngineSettings(command=["my-server"]))
        >>> engine.command_for(DeployRequest("c", "t", {"tp_size": 2}, "m", Path(".")), 8000)
        ['my-server', '--host', '127.0.0.1', '--port', '8000', '--served-model-name', 'm', '--tp-size', '2']
        """
        s = self.settings
        flavor, version, name = s.engine_flavor, s.engine_version, request.served_model_name
        if s.command == ENGINE:
            return [*flavor.launch_command(s.model_path or "", request.engine_args, version, served_model_name=name,
                                           python=s.python, host=HOST, port=port),
                    *([API_KEY_FLAG, s.api_key] if s.api_key else []), *s.extra_args]
        if s.command == SIMULATOR:
            return [*self.simulator_options(), "--",
                    *flavor.server_argv(s.model_path or s.sim_model, request.engine_args, version, host=HOST,
                                        port=port, served_model_name=name, api_key=s.api_key,
                                        tokenizer=s.tokenizer_path),
                    *s.extra_args]
        auth = [API_KEY_FLAG, s.api_key] if s.api_key else []
        return [*s.command, "--host", HOST, "--port", str(port), "--served-model-name", name, *auth,
                *flavor.config_argv(request.engine_args, version), *s.extra_args]

    def simulator_options(self) -> list[str]:
        """The simulator's program and its own options, before ``--`` and the engine's server argv."""
        s = self.settings
        argv = [s.python, "-m", "autotuner.sim.server", "--sim-engine", s.flavor,
                "--sim-engine-version", s.engine_version, "--sim-gpu", s.sim_gpu, "--sim-model", s.sim_model,
                "--sim-startup-scale", str(s.sim_startup_scale)]
        return argv + (["--sim-seed", str(s.sim_seed)] if s.sim_seed is not None else [])

    def env_for(self, request: DeployRequest) -> dict[str, str]:
        """The engine's environment: ours, the settings' variables, the trial's GPUs."""
        env = {**os.environ, **self.settings.env}
        if request.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in request.gpu_ids)
        if self.settings.command == SIMULATOR:
            env = env_with_package_on_path(env)
        return env

    @contextlib.contextmanager
    def deploy(self, request: DeployRequest) -> Iterator[LocalRunningEngine]:
        """Start the engine, wait until it answers, yield it; stop its whole process group after."""
        request.work_dir.mkdir(parents=True, exist_ok=True)
        log_path = request.work_dir / "engine.log"
        started = time.monotonic()
        key = self.settings.api_key
        try:
            with redacted_start_errors(key):
                process, port, argv = self._start_until_ready(request, log_path, started)
            try:
                yield LocalRunningEngine(
                    base_url=f"http://{HOST}:{port}",
                    served_model_name=request.served_model_name,
                    startup_s=time.monotonic() - started,
                    log_path=log_path,
                    info={"pid": process.pid, "port": port, "command": redact_argv(argv)},
                    process=process,
                )
            finally:
                self._stop(process)
        finally:
            scrub_file(log_path, key)  # the engine may have printed its arguments

    def _start_until_ready(
        self, request: DeployRequest, log_path: Path, started: float
    ) -> tuple[subprocess.Popen, int, list[str]]:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            argv = self.command_for(request, port)
            with open(log_path, "ab") as log_file:
                log_file.write(f"### autotuner: attempt {attempt}, port {port}: {redact_argv(argv)}\n".encode())
                log_file.flush()
                log_offset = log_file.tell()  # this attempt's own output starts here
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=self.env_for(request),
                    cwd=request.work_dir,
                    start_new_session=True,
                    preexec_fn=die_with_parent(),
                )
            try:
                self._wait_ready(process, port, log_path, log_offset, started)
                return process, port, argv
            except _PortClash:
                self._stop(process)
            except BaseException:
                self._stop(process)
                raise
        raise EngineStartError(
            f"port taken by another process {PORT_ATTEMPTS} times in a row",
            tail_lines(log_path, 20),
            infeasible=False,
        )

    def _wait_ready(
        self, process: subprocess.Popen, port: int, log_path: Path, log_offset: int, started: float
    ) -> None:
        timeout_s = self.settings.ready_timeout_s
        base_url = f"http://{HOST}:{port}"
        while True:
            code = process.poll()
            if code is not None:
                output = _read_from(log_path, log_offset)
                if _PORT_CLASH.search(output):
                    raise _PortClash()
                tail = "\n".join(output.splitlines()[-20:])
                raise EngineStartError(
                    f"engine exited with {exit_text(code)} during start-up: {meaningful_line(tail)}",
                    tail,
                    infeasible=True,
                )
            if answers(base_url, self.settings.engine_flavor.ready_paths) and _listens_in_group(process.pid, port):
                return
            if time.monotonic() - started > timeout_s:
                raise EngineStartError(
                    f"not ready after {timeout_s:g}s", tail_lines(log_path, 20), infeasible=True
                )
            time.sleep(self.settings.poll_interval_s)

    def _stop(self, process: subprocess.Popen) -> None:
        survivors = stop_process_group(process, self.settings.stop_grace_s, gone_timeout_s=GONE_TIMEOUT_S)
        if survivors:
            log.warning("engine processes %s survived SIGKILL (stuck in the kernel?)", survivors)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may take it before we bind)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def answers(base_url: str, paths: tuple[str, ...]) -> bool:
    """True when one of ``paths`` (the flavor's readiness endpoints) answers 200."""
    for path in paths:
        try:
            with _NO_PROXY_OPENER.open(base_url + path, timeout=2) as response:
                if response.status == 200:
                    return True
        except (OSError, http.client.HTTPException):
            continue
    return False


def meaningful_line(text: str) -> str:
    """The last line that looks like an error, else the last non-blank line.

    >>> meaningful_line("loading\\nRuntimeError: not enough memory for KV cache\\nbye\\n")
    'RuntimeError: not enough memory for KV cache'
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if _MEANINGFUL.search(line)]
    return (errors or lines or ["no output"])[-1]


def exit_text(code: int) -> str:
    """``code 3``, or ``code -9 (SIGKILL)`` for a process killed by a signal."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"code {code} ({signal.Signals(-code).name})"
    return f"code {code}"


def _listens_in_group(pgid: int, port: int) -> bool:
    for proc in group_members(pgid):
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for c in proc.net_connections(kind="tcp")):
                return True
        except psutil.Error:
            continue
    return False


def _read_from(path: Path, offset: int, limit: int = 64_000) -> str:
    """The log from ``offset`` on, at most its last ``limit`` bytes."""
    with open(path, "rb") as f:
        f.seek(max(offset, f.seek(0, os.SEEK_END) - limit))
        return f.read().decode("utf-8", "replace")

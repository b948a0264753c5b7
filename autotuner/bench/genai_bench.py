"""Run genai-bench level by level against one server, each level decided after the last.

genai-bench runs as ONE child process per trial, never imported (it monkeypatches sockets and
threads through gevent). It is started while the engine starts up, so its ~5 s of imports overlap
the engine's; then it runs each level the trial asks for in a forked child
(:mod:`autotuner.bench.level_server`), so a level starts in milliseconds::

    bench = GenaiBenchLevels(GenaiBenchSettings(tokenizer="/models/llama-3.1-8b"), out_dir=trial_dir)
    bench.start()                                         # while the engine starts
    bench.connect(server.base_url, server.served_model_name)
    level = bench.run_level(LevelRequest("D(1000,200)", 32, max_requests=300))
    bench.close()

Layout under ``out_dir``: ``genai-bench/level-<n>/`` (genai-bench's experiment folder of level n:
its result JSON and ``experiment_metadata.json``), ``genai-bench/logs/level-<n>/genai_bench.log``,
``genai-bench/logs/console.log`` (the process's stdout and stderr) and ``genai-bench/requests/``
(the level server's protocol files, with each level's finished requests and its process's lag and
CPU, :mod:`autotuner.bench.level_server`); the first free ``genai-bench-<n>`` is taken when that
exists. Each level's result says how far the host held it back (:mod:`autotuner.bench.host_lag`):
with ``connect(..., simulated=True)`` the simulator's ``GET /sim/lag`` is read before and after.

API key: genai-bench takes it only as ``--api-key`` and writes that value in clear text into
``experiment_metadata.json``, its log and its console output while a level runs (a hard kill
leaves them there). So its argv carries ``***``, and the key travels in the environment variable
:data:`API_KEY_ENV`, which this package's level server (:mod:`autotuner.bench.genai_bench_cli`)
reads and hands to genai-bench's authentication in-process: no file genai-bench writes ever
holds the key, nor does the process list. A ``command`` of one's own gets only ``***``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from autotuner.bench.fail_fast import RequestRecord, ended_level
from autotuner.bench.host_lag import ServerLag, judged, read_server_lag
from autotuner.bench.level_server import STOP, exit_path, host_path, pid_path, records_path, submit, write_atomic
from autotuner.bench.parse import (
    find_failed_level_files,
    find_level_files,
    parse_failed_level,
    parse_level_file,
)
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.task.traffic import traffic_argv
from autotuner.engines.base import tail_lines
from autotuner.engines.subprocesses import die_with_parent, env_with_package_on_path, stop_process_group

API_BACKENDS = ("openai", "vllm", "sglang")
# The key servers without authentication get; it is no secret, so nothing is scrubbed for it.
PLACEHOLDER_API_KEY = "none"
SCRUBBED = "***"  # what genai-bench's --api-key says when the server has a key (see API_KEY_ENV)
API_KEY_ENV = "AUTOTUNER_GENAI_BENCH_API_KEY"  # the key itself, read by the level server
# Nothing may reach the Hugging Face Hub; ENABLE_UI=false gives plain log lines, not a dashboard.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "ENABLE_UI": "false",
    "PYTHONUNBUFFERED": "1",
}
MIN_CPU_WALL_S = 0.2  # the least time in flight over which the level process's CPU share is judged
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
# What genai-bench makes of a failed request: connection errors are 503, timeouts 408.
_ERROR_HINTS = {"503": "server down?", "408": "requests timed out"}


class BenchmarkError(RuntimeError):
    """A level could not be measured. ``reason`` is one line for the trial table; ``log_tail``
    the last lines of genai-bench's output when they explain it."""

    def __init__(self, reason: str, log_tail: str = ""):
        super().__init__(reason if not log_tail else f"{reason}\n{log_tail}")
        self.reason = reason
        self.log_tail = log_tail


@dataclass(frozen=True)
class GenaiBenchSettings:
    """What every level of a trial shares."""

    tokenizer: str  # local folder (or a Hub id genai-bench finds in its offline cache)
    api_backend: str = "sglang"  # vllm/sglang add ignore_eos, so outputs have the asked length
    max_minutes_per_level: int = 1  # genai-bench only takes whole minutes
    api_key: str = PLACEHOLDER_API_KEY
    warmup_ratio: float | None = None  # share of each level's first requests left out of stats
    cooldown_ratio: float | None = None  # share of each level's last requests left out
    prefix_len: int | None = None  # --prefix-len: tokens every prompt shares
    prefix_ratio: float | None = None  # --prefix-ratio: share of each prompt shared
    dataset_path: str | None = None  # --dataset-path: a local prompts file (absolute)
    prompt_column: str | None = None  # --dataset-prompt-column
    max_tokens: int | None = None  # output tokens asked by prompts sent as written (the dataset scenario)
    command: list[str] | None = None  # None: this package's genai-bench level server
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.api_backend not in API_BACKENDS:
            raise ValueError(f"api_backend must be one of {API_BACKENDS}, not {self.api_backend!r}")
        if self.max_minutes_per_level < 1:
            raise ValueError("max_minutes_per_level must be >= 1")
        for name in ("warmup_ratio", "cooldown_ratio"):
            ratio = getattr(self, name)
            if ratio is not None and not 0.0 <= ratio < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {ratio}")

    def launcher(self) -> list[str]:
        """The argv prefix that starts the level server (before the request folder)."""
        return list(self.command or [sys.executable, "-m", "autotuner.bench.genai_bench_cli"])

    def stall_timeout_s(self) -> float:
        """Longest wait for one level's result: the level's time limit, plus slack."""
        return self.max_minutes_per_level * 60 + 60


class GenaiBenchLevels:
    """genai-bench levels against one server, one :meth:`run_level` call at a time.

    Construction reserves a fresh folder; :meth:`start` starts the process (early, before the
    server exists); :meth:`close` stops it and whatever level still runs.
    """

    def __init__(self, settings: GenaiBenchSettings, out_dir: str | Path, *, stall_timeout_s: float | None = None,
                 startup_timeout_s: float = 120.0, poll_interval_s: float = 0.05, stop_grace_s: float = 2.0):
        self.settings = settings
        self.stall_timeout_s = stall_timeout_s or settings.stall_timeout_s()
        self.startup_timeout_s = startup_timeout_s
        self.poll_interval_s = poll_interval_s
        self.stop_grace_s = stop_grace_s
        self.run_dir = _reserve_fresh_dir(Path(out_dir).resolve(), "genai-bench")
        self.request_dir = self.run_dir / "requests"
        self.log_dir = self.run_dir / "logs"
        self.console_log = self.log_dir / "console.log"
        self.base_url: str | None = None
        self.model_name: str | None = None
        self.simulated = False  # the server is autotuner.sim's: its lag behind its schedule is read too
        self._process: subprocess.Popen | None = None
        self._levels = 0

    def connect(self, base_url: str, model_name: str, *, simulated: bool = False) -> None:
        """The server the next levels load (genai-bench appends /v1/chat/completions itself);
        ``simulated``: it is the simulator, whose ``GET /sim/lag`` each level reads."""
        self.base_url = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
        self.model_name = model_name
        self.simulated = simulated

    def tokenizer_path(self) -> Path | None:
        """The tokenizer as an absolute folder path, or None when it names a Hugging Face repo.

        Like genai-bench, anything that exists is a path; so is anything absolute or starting
        with ``.`` or ``~`` (a typo there must not be sent to the Hub as a repo id).
        """
        tokenizer = self.settings.tokenizer
        path = Path(tokenizer).expanduser()
        if path.exists() or path.is_absolute() or tokenizer.startswith((".", "~")):
            return path.resolve()
        return None

    def shared_argv(self) -> list[str]:
        """genai-bench's arguments that every level shares (an argv list, never a shell string)."""
        s = self.settings
        tokenizer_path = self.tokenizer_path()
        argv = [
            "benchmark",
            "--api-backend", s.api_backend,
            "--api-key", SCRUBBED if self._has_key() else PLACEHOLDER_API_KEY,  # the key: see env()
            # Absolute, because genai-bench runs with run_dir as its working directory.
            "--model-tokenizer", str(tokenizer_path) if tokenizer_path else s.tokenizer,
            "--task", "text-to-text",
            "--max-time-per-run", str(s.max_minutes_per_level),
        ]
        if s.warmup_ratio is not None:
            argv += ["--warmup-ratio", str(s.warmup_ratio)]
        if s.cooldown_ratio is not None:
            argv += ["--cooldown-ratio", str(s.cooldown_ratio)]
        return argv + traffic_argv(prefix_len=s.prefix_len, prefix_ratio=s.prefix_ratio,
                                   dataset_path=s.dataset_path, prompt_column=s.prompt_column,
                                   max_tokens=s.max_tokens)

    def level_argv(self, n: int, request: LevelRequest) -> list[str]:
        """The arguments of level ``n``: the server, the load and the level's own folders."""
        assert self.base_url is not None and self.model_name is not None
        return [
            "--api-base", self.base_url,
            "--api-model-name", self.model_name,
            "--traffic-scenario", request.scenario,
            "--num-concurrency", str(request.concurrency),
            "--max-requests-per-run", str(request.max_requests),
            "--experiment-base-dir", str(self.run_dir),
            "--experiment-folder-name", self.level_dir(n).name,
            "--log-dir", str(self.log_dir / f"level-{n}"),
        ]

    def level_dir(self, n: int) -> Path:
        return self.run_dir / f"level-{n}"

    def env(self) -> dict[str, str]:
        """The child's environment: ours, offline switches, the settings' extra variables, and the
        server's API key in :data:`API_KEY_ENV` (never in argv, where genai-bench records it)."""
        key = {API_KEY_ENV: self.settings.api_key} if self._has_key() else {}
        return env_with_package_on_path({**os.environ, **OFFLINE_ENV, **self.settings.extra_env, **key})

    def _has_key(self) -> bool:
        return self.settings.api_key not in ("", PLACEHOLDER_API_KEY)

    def start(self) -> None:
        """Start genai-bench now (its imports overlap the engine's start-up). Raises
        :class:`BenchmarkError` for a tokenizer folder genai-bench could not use."""
        if self._process is not None:
            return
        self._check_tokenizer()
        self.request_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.console_log, "ab") as console:
            self._process = subprocess.Popen(
                [*self.settings.launcher(), str(self.request_dir), *self.shared_argv()],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=self.env(),
                cwd=self.run_dir, start_new_session=True, preexec_fn=die_with_parent())

    def run_level(self, request: LevelRequest) -> LevelResult:
        """Run one level and return its result as soon as its file is complete, with how far the
        host held it back (:func:`autotuner.bench.host_lag.judged`).

        Raises :class:`BenchmarkError` for a level in which every request failed, a hung server
        (no result within the level's time limit plus slack), a level that exited without a
        result, or a genai-bench process that died.
        """
        if self.base_url is None:
            raise RuntimeError("connect() to the server before running levels")
        self.start()
        assert self._process is not None
        self._levels += 1
        n = self._levels
        lag_before = self._server_lag()
        submit(self.request_dir, n, self.level_argv(n, request))
        try:
            return self._judged(n, self._follow(n, request), lag_before)
        finally:
            self._stop_level(n)
            self.scrub_api_key()

    def close(self) -> None:
        """Stop genai-bench and any level still running (idempotent)."""
        if self._process is None:
            return
        write_atomic(self.request_dir / STOP, "")
        stop_process_group(self._process, self.stop_grace_s)
        self._process = None
        self.scrub_api_key()

    def _follow(self, n: int, request: LevelRequest) -> LevelResult:
        assert self._process is not None
        started = time.monotonic()
        folder = self.level_dir(n)
        where = f"{request.scenario} c={request.concurrency}"
        # warm-up and cool-down shares leave requests out of the stats, so they could overturn a verdict
        fail_fast = request.fail_fast if self.settings.warmup_ratio is None and self.settings.cooldown_ratio is None else None
        records = _RecordsReader(records_path(self.request_dir, n))
        forked_at: float | None = None  # when the level's child started: the level's own clock
        while True:
            exited = self._exit_code(n)  # read first: files written before the exit are seen below
            for path in find_level_files(folder):
                try:
                    return parse_level_file(path)
                except (ValueError, KeyError, TypeError):
                    pass  # still being written: read it again next poll
            for path in find_failed_level_files(folder):
                try:
                    raise BenchmarkError(all_failed_reason(parse_failed_level(path)))
                except (ValueError, KeyError, TypeError):
                    pass
            if exited == 0:
                raise BenchmarkError(f"genai-bench ended without a result for {where}: "
                                     f"no request finished within {self.settings.max_minutes_per_level} min?")
            if exited is not None:
                raise self._exit_error(exited, n)
            if self._process.poll() is not None:
                raise self._exit_error(self._process.returncode, n)
            waited = time.monotonic() - started
            if not pid_path(self.request_dir, n).exists() and waited > self.startup_timeout_s:
                raise BenchmarkError(f"genai-bench did not start level {n} ({where}) within "
                                     f"{self.startup_timeout_s:.0f}s")
            if fail_fast is not None:
                if forked_at is None and pid_path(self.request_dir, n).exists():
                    forked_at = time.monotonic()
                seen = records.read()
                proven = fail_fast.verdict(seen, request.max_requests, request.concurrency)
                if proven:
                    return ended_level(request.scenario, request.concurrency, seen, time.monotonic() - (forked_at or started), proven)
            if waited > self.stall_timeout_s:
                raise BenchmarkError(f"no result for {self.stall_timeout_s:.0f}s (at {where}): server hung?")
            time.sleep(self.poll_interval_s)

    def _server_lag(self) -> ServerLag | None:
        if not self.simulated:
            return None
        assert self.base_url is not None
        key = self.settings.api_key
        return read_server_lag(self.base_url, None if key == PLACEHOLDER_API_KEY else key)

    def _judged(self, n: int, level: LevelResult, lag_before: ServerLag | None) -> LevelResult:
        """The level with the server's lag over it and its child's (``level-<n>.host.json``)."""
        lag_after = self._server_lag() if lag_before is not None else None
        server_lag = server_late_s = None
        if lag_after is not None and lag_before is not None:
            server_lag, server_late_s = lag_after.share_since(lag_before), lag_after.lateness_since(lag_before)
        try:
            host = json.loads(host_path(self.request_dir, n).read_text())
            client_lag_s = float(host["lag_p90_s"])
            # a share of too short a time says nothing (one request finished: its latency)
            client_cpu = host["cpu_s"] / host["wall_s"] if host["wall_s"] >= MIN_CPU_WALL_S else None
        except (OSError, ValueError, KeyError, TypeError):
            client_lag_s = client_cpu = None  # the level ended before its first write (half a second)
        return judged(level, server_lag=server_lag, server_late_s=server_late_s, client_lag_s=client_lag_s,
                      client_cpu=client_cpu)

    def _exit_code(self, n: int) -> int | None:
        try:
            return int(exit_path(self.request_dir, n).read_text())
        except (OSError, ValueError):
            return None

    def _stop_level(self, n: int) -> None:
        """Kill level n's process: after its result it only sleeps and cleans up."""
        try:
            pid = int(pid_path(self.request_dir, n).read_text())
        except (OSError, ValueError):
            return
        if self._exit_code(n) is None:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def scrub_api_key(self) -> None:
        """Replace the API key by ``***`` in the files genai-bench writes it to."""
        key = self.settings.api_key
        if key in ("", PLACEHOLDER_API_KEY):
            return
        kept = sorted(self.run_dir.glob("level-*/experiment_metadata.json"))
        kept += sorted(p for p in self.log_dir.rglob("*") if p.is_file()) if self.log_dir.is_dir() else []
        kept += sorted(self.request_dir.glob("level-*.json")) if self.request_dir.is_dir() else []
        for path in kept:
            _replace_in_file(path, key, SCRUBBED)

    def _check_tokenizer(self) -> None:
        path = self.tokenizer_path()
        if path is None:
            return  # a Hub repo id: genai-bench looks in the offline cache; see _exit_error
        if not path.is_dir():
            raise BenchmarkError(f"tokenizer folder {path} does not exist")
        if not any((path / name).is_file() for name in TOKENIZER_FILES):
            raise BenchmarkError(f"tokenizer folder {path} has none of {', '.join(TOKENIZER_FILES)}")

    def _exit_error(self, exit_code: int, n: int) -> BenchmarkError:
        output = self._redact(tail_lines(self.console_log, 200))
        log_tail = "\n".join(output.splitlines()[-20:])
        tokenizer_error = re.search(r"^OSError: .*", output, re.MULTILINE)
        if tokenizer_error and "validate_tokenizer" in output:
            return BenchmarkError(
                f"genai-bench could not load tokenizer {self.settings.tokenizer!r}: {tokenizer_error.group(0)}",
                log_tail)
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        return BenchmarkError(f"genai-bench level {n} exited with code {exit_code}: {last}", log_tail)

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        if key in ("", PLACEHOLDER_API_KEY):
            return text
        return text.replace(key, SCRUBBED)


class _RecordsReader:
    """The finished requests a running level's child has appended so far (whole lines only)."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[RequestRecord] = []
        self._offset = 0

    def read(self) -> list[RequestRecord]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return self.records
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        self.records += [RequestRecord.from_dict(json.loads(line)) for line in complete.splitlines() if line.strip()]
        return self.records


def all_failed_reason(level: LevelResult) -> str:
    codes = ", ".join(f"{code} x{count}" for code, count in level.error_codes.items())
    hints = {_ERROR_HINTS[code] for code in level.error_codes if code in _ERROR_HINTS}
    text = (
        f"all {level.num_requests} requests failed at {level.scenario} "
        f"c={level.concurrency} ({codes or 'no error code'})"
    )
    return text + (": " + ", ".join(sorted(hints)) if hints else "")


def _reserve_fresh_dir(parent: Path, name: str) -> Path:
    """Create and return ``parent/name``, or ``parent/name-2``, ... when that already exists."""
    parent.mkdir(parents=True, exist_ok=True)
    candidate, n = parent / name, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = parent / f"{name}-{n}"


def _replace_in_file(path: Path, old: str, new: str) -> None:
    data = path.read_bytes()
    replaced = data.replace(old.encode(), new.encode())
    if replaced != data:
        tmp = path.with_name(path.name + ".scrub")
        tmp.write_bytes(replaced)
        os.replace(tmp, path)  # atomic: a reader never sees a half-scrubbed file

"""Run one genai-bench sweep (every scenario at every concurrency) and follow it level by level.

genai-bench runs as ONE child process per trial, never imported (it monkeypatches sockets and
threads through gevent). Each level's result file appears when the level ends, and
:meth:`GenaiBenchRun.levels` yields it right then, so the trainable can report to Tune while the
sweep goes on::

    plan = BenchPlan(scenarios=["D(1000,200)"], concurrencies=[1, 8, 32],
                     max_requests_per_level=300, max_minutes_per_level=2)
    run = GenaiBenchRun(plan, server.base_url, server.served_model_name,
                        tokenizer="/models/llama-3.1-8b", out_dir=trial_dir)
    for level in run.levels():  # raises BenchmarkError when the sweep cannot go on
        tune.report(level.to_dict())

Layout under ``out_dir``: ``genai-bench/results/`` (the experiment folder: one JSON per level and
``experiment_metadata.json``) and ``genai-bench/logs/`` (``genai_bench.log`` and ``console.log``,
the child's stdout and stderr); the first free ``genai-bench-<n>`` is taken when that exists.

genai-bench can also be started before the server exists, so its ~5 s of imports overlap the
engine's start-up (:mod:`autotuner.bench.gate`)::

    run = GenaiBenchRun(plan, None, None, tokenizer=..., out_dir=trial_dir)
    run.start_early()                     # while the engine starts
    run.connect(server.base_url, server.served_model_name)
    for level in run.levels(): ...

API key: genai-bench accepts it only as ``--api-key`` (no environment variable for the
openai/vllm/sglang backends), so it is passed in argv and is visible in the process list while
the sweep runs. genai-bench writes it in clear text into ``experiment_metadata.json`` and its log;
both are scrubbed (the key replaced by ``***``) when the sweep ends, however it ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from autotuner.bench.gate import GATE_ENV, PENDING_API_BASE, PENDING_MODEL_NAME, open_gate
from autotuner.bench.parse import (
    find_failed_level_files,
    find_level_files,
    parse_failed_level,
    parse_level_file,
)
from autotuner.bench.result import LevelResult
from autotuner.engines.base import tail_lines
from autotuner.subprocesses import die_with_parent, env_with_package_on_path, stop_process_group

API_BACKENDS = ("openai", "vllm", "sglang")
# The key servers without authentication get; it is no secret, so nothing is scrubbed for it.
PLACEHOLDER_API_KEY = "none"
SCRUBBED = "***"
# Nothing may reach the Hugging Face Hub; ENABLE_UI=false gives plain log lines, not a dashboard.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "ENABLE_UI": "false",
    "PYTHONUNBUFFERED": "1",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
# What genai-bench makes of a failed request: connection errors are 503, timeouts 408.
_ERROR_HINTS = {"503": "server down?", "408": "requests timed out"}


class BenchmarkError(RuntimeError):
    """The sweep could not produce its levels. ``reason`` is one line for the trial table;
    ``log_tail`` the last lines of genai-bench's output when they explain it."""

    def __init__(self, reason: str, log_tail: str = ""):
        super().__init__(reason if not log_tail else f"{reason}\n{log_tail}")
        self.reason = reason
        self.log_tail = log_tail


@dataclass(frozen=True)
class BenchPlan:
    """What load one trial gets: every scenario at every concurrency, scenario-major.

    >>> BenchPlan(["D(100,100)"], [1, 4], max_requests_per_level=50,
    ...           max_minutes_per_level=1).sweep_order()
    [('D(100,100)', 1), ('D(100,100)', 4)]
    """

    scenarios: list[str]
    concurrencies: list[int]
    max_requests_per_level: int  # soft cap: genai-bench checks it once a second
    max_minutes_per_level: int  # genai-bench only takes whole minutes
    api_backend: str = "sglang"  # vllm/sglang add ignore_eos, so outputs have the asked length
    warmup_ratio: float | None = None  # share of each level's first requests left out of stats
    cooldown_ratio: float | None = None  # share of each level's last requests left out
    command: list[str] | None = None  # None: this package's no-report genai-bench wrapper
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.scenarios or not self.concurrencies:
            raise ValueError("a plan needs at least one scenario and one concurrency")
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError(f"scenarios repeat: {self.scenarios}")
        if len(set(self.concurrencies)) != len(self.concurrencies):
            # Both runs would write the same result file name.
            raise ValueError(f"concurrencies repeat: {self.concurrencies}")
        if any(c < 1 for c in self.concurrencies):
            raise ValueError(f"concurrencies must be >= 1: {self.concurrencies}")
        if self.max_requests_per_level < 1 or self.max_minutes_per_level < 1:
            raise ValueError("max_requests_per_level and max_minutes_per_level must be >= 1")
        if self.api_backend not in API_BACKENDS:
            raise ValueError(f"api_backend must be one of {API_BACKENDS}, not {self.api_backend!r}")
        for name in ("warmup_ratio", "cooldown_ratio"):
            ratio = getattr(self, name)
            if ratio is not None and not 0.0 <= ratio < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {ratio}")

    def sweep_order(self) -> list[tuple[str, int]]:
        """(scenario, concurrency) in the order genai-bench runs them."""
        return [(s, c) for s in self.scenarios for c in self.concurrencies]

    def launcher(self) -> list[str]:
        """The argv prefix that starts genai-bench (before ``benchmark``)."""
        return list(self.command or [sys.executable, "-m", "autotuner.bench.genai_bench_cli"])

    def overall_timeout_s(self) -> float:
        """Longest a whole sweep may take: every level to its time limit, plus start-up slack."""
        return len(self.sweep_order()) * (self.max_minutes_per_level * 60 + 30) + 90

    def stall_timeout_s(self) -> float:
        """Longest wait for the next level file (a level that runs to its time limit, plus slack)."""
        return self.max_minutes_per_level * 60 + 60


class GenaiBenchRun:
    """One genai-bench sweep against one server. Construction reserves a fresh folder.

    ``overall_timeout_s`` and ``stall_timeout_s`` default to the plan's; ``poll_interval_s`` is how
    often the experiment folder is looked at; ``stop_grace_s`` how long genai-bench gets between
    SIGTERM and SIGKILL.
    """

    def __init__(
        self,
        plan: BenchPlan,
        base_url: str | None,
        model_name: str | None,
        tokenizer: str,
        out_dir: str | Path,
        api_key: str = PLACEHOLDER_API_KEY,
        *,
        overall_timeout_s: float | None = None,
        stall_timeout_s: float | None = None,
        poll_interval_s: float = 0.5,
        stop_grace_s: float = 2.0,
    ):
        self.plan = plan
        self.base_url = PENDING_API_BASE
        self.model_name = PENDING_MODEL_NAME
        if base_url is not None and model_name is not None:
            self.connect(base_url, model_name)
        self.tokenizer = tokenizer
        self.api_key = api_key
        self.overall_timeout_s = overall_timeout_s or plan.overall_timeout_s()
        self.stall_timeout_s = stall_timeout_s or plan.stall_timeout_s()
        self.poll_interval_s = poll_interval_s
        self.stop_grace_s = stop_grace_s
        self.run_dir = _reserve_fresh_dir(Path(out_dir).resolve(), "genai-bench")
        self.experiment_dir = self.run_dir / "results"
        self.log_dir = self.run_dir / "logs"
        self.console_log = self.log_dir / "console.log"
        self.gate = self.run_dir / "gate.json"
        self._started = False
        self._early: subprocess.Popen | None = None  # started by start_early, waiting at the gate

    def connect(self, base_url: str, model_name: str) -> None:
        """The server to load (given later when genai-bench was started before the server)."""
        # genai-bench appends /v1/chat/completions itself.
        self.base_url = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
        self.model_name = model_name

    def start_early(self) -> bool:
        """Start genai-bench now, before the server is up: it imports its dependencies and waits at
        the gate, which :meth:`levels` opens. False when it cannot wait (another launcher than this
        package's wrapper, or a tokenizer :meth:`levels` will refuse): it then starts in :meth:`levels`.
        """
        if self._early is not None or self._started or self.plan.command is not None:
            return False
        try:
            self._check_tokenizer()
        except BenchmarkError:
            return False
        self._early = self._spawn({**self.env(), GATE_ENV: str(self.gate)})
        return True

    def close(self) -> None:
        """Stop a genai-bench started early whose sweep never ran (the engine did not come up)."""
        if self._early is not None and not self._started:
            stop_process_group(self._early, self.stop_grace_s)
            self.scrub_api_key()

    def tokenizer_path(self) -> Path | None:
        """The tokenizer as an absolute folder path, or None when it names a Hugging Face repo.

        Like genai-bench, anything that exists is a path; so is anything absolute or starting
        with ``.`` or ``~`` (a typo there must not be sent to the Hub as a repo id).
        """
        path = Path(self.tokenizer).expanduser()
        if path.exists() or path.is_absolute() or self.tokenizer.startswith((".", "~")):
            return path.resolve()
        return None

    def argv(self) -> list[str]:
        """The genai-bench command line (an argv list, never a shell string)."""
        plan = self.plan
        tokenizer_path = self.tokenizer_path()
        argv = plan.launcher() + [
            "benchmark",
            "--api-backend", plan.api_backend,
            "--api-base", self.base_url,
            "--api-key", self.api_key,
            "--api-model-name", self.model_name,
            # Absolute, because genai-bench runs with run_dir as its working directory.
            "--model-tokenizer", str(tokenizer_path) if tokenizer_path else self.tokenizer,
            "--task", "text-to-text",
        ]
        for scenario in plan.scenarios:
            argv += ["--traffic-scenario", scenario]
        for concurrency in plan.concurrencies:
            argv += ["--num-concurrency", str(concurrency)]
        argv += [
            "--max-time-per-run", str(plan.max_minutes_per_level),
            "--max-requests-per-run", str(plan.max_requests_per_level),
            "--experiment-base-dir", str(self.run_dir),
            "--experiment-folder-name", self.experiment_dir.name,
            "--log-dir", str(self.log_dir),
        ]
        if plan.warmup_ratio is not None:
            argv += ["--warmup-ratio", str(plan.warmup_ratio)]
        if plan.cooldown_ratio is not None:
            argv += ["--cooldown-ratio", str(plan.cooldown_ratio)]
        return argv

    def env(self) -> dict[str, str]:
        """The child's environment: ours, offline switches, then the plan's extra variables."""
        return env_with_package_on_path({**os.environ, **OFFLINE_ENV, **self.plan.extra_env})

    def levels(self) -> Iterator[LevelResult]:
        """Start genai-bench and yield each level's result as soon as its file is complete.

        Levels come in sweep order. Raises :class:`BenchmarkError` for an unusable tokenizer, a
        level in which every request failed, a hung server (stall or overall timeout) and a
        non-zero exit. genai-bench's process group is killed when this generator ends, also when
        the consumer stops early (generator close) and right after the last level (genai-bench
        only sleeps and cleans up after it).
        """
        if self._started:
            # A second sweep would find the first one's files and take them for its own.
            raise RuntimeError("a GenaiBenchRun runs once; make a new one for another sweep")
        self._started = True
        if self.base_url == PENDING_API_BASE:
            raise RuntimeError("connect() the run to its server before asking for levels")
        if self._early is not None:
            process = self._early
            open_gate(self.gate, api_base=self.base_url, model_name=self.model_name)
        else:
            self._check_tokenizer()
            process = self._spawn(self.env())
        started = time.monotonic()
        try:
            yield from self._follow(process, started)
        finally:
            stop_process_group(process, self.stop_grace_s)
            self.scrub_api_key()

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen:
        """genai-bench in its own process group, output to the console log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.console_log, "wb") as console:
            return subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.run_dir,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def scrub_api_key(self) -> None:
        """Replace the API key by ``***`` in the files genai-bench writes it to."""
        if self.api_key in ("", PLACEHOLDER_API_KEY):
            return
        kept = [self.experiment_dir / "experiment_metadata.json"]
        kept += sorted(self.log_dir.glob("*")) if self.log_dir.is_dir() else []
        for path in kept:
            if path.is_file():
                _replace_in_file(path, self.api_key, SCRUBBED)

    def _check_tokenizer(self) -> None:
        path = self.tokenizer_path()
        if path is None:
            return  # a Hub repo id: genai-bench looks in the offline cache; see _exit_error
        if not path.is_dir():
            raise BenchmarkError(f"tokenizer folder {path} does not exist")
        if not any((path / name).is_file() for name in TOKENIZER_FILES):
            raise BenchmarkError(
                f"tokenizer folder {path} has none of {', '.join(TOKENIZER_FILES)}"
            )

    def _follow(self, process: subprocess.Popen, started: float) -> Iterator[LevelResult]:
        expected = self.plan.sweep_order()
        finished: dict[tuple[str, int], LevelResult] = {}
        parsed_files: set[str] = set()
        next_index = 0
        last_progress = started
        while True:
            # Read the exit code before looking at the folder, so that every file written before
            # the exit is seen in this pass.
            exit_code = process.poll()
            for level in self._new_levels(parsed_files):
                finished[(level.scenario, level.concurrency)] = level
                last_progress = time.monotonic()
            while next_index < len(expected) and expected[next_index] in finished:
                yield finished[expected[next_index]]
                next_index += 1
            if next_index == len(expected):
                return
            failed = self._failed_level()
            if failed is not None:
                raise BenchmarkError(_all_failed_reason(failed))
            scenario, concurrency = expected[next_index]
            if exit_code == 0:
                raise BenchmarkError(
                    f"genai-bench ended without a result for {scenario} c={concurrency}: "
                    f"no request finished within {self.plan.max_minutes_per_level} min?"
                )
            if exit_code is not None:
                raise self._exit_error(exit_code)
            now = time.monotonic()
            if now - started > self.overall_timeout_s:
                raise BenchmarkError(
                    f"sweep still running after {self.overall_timeout_s:.0f}s "
                    f"(at {scenario} c={concurrency}): killed"
                )
            if now - last_progress > self.stall_timeout_s:
                raise BenchmarkError(
                    f"no level finished for {self.stall_timeout_s:.0f}s "
                    f"(at {scenario} c={concurrency}): server hung?"
                )
            time.sleep(self.poll_interval_s)

    def _new_levels(self, parsed_files: set[str]) -> list[LevelResult]:
        levels = []
        for path in find_level_files(self.experiment_dir):
            if path.name in parsed_files:
                continue
            try:
                levels.append(parse_level_file(path))
            except (ValueError, KeyError, TypeError):
                continue  # still being written: read it again next poll
            parsed_files.add(path.name)
        return levels

    def _failed_level(self) -> LevelResult | None:
        for path in find_failed_level_files(self.experiment_dir):
            try:
                return parse_failed_level(path)
            except (ValueError, KeyError, TypeError):
                continue  # still being written
        return None

    def _exit_error(self, exit_code: int) -> BenchmarkError:
        output = self._redact(tail_lines(self.console_log, 200))
        log_tail = "\n".join(output.splitlines()[-20:])
        tokenizer_error = re.search(r"^OSError: .*", output, re.MULTILINE)
        if tokenizer_error and "validate_tokenizer" in output:
            return BenchmarkError(
                f"genai-bench could not load tokenizer {self.tokenizer!r}: "
                f"{tokenizer_error.group(0)}",
                log_tail,
            )
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        return BenchmarkError(f"genai-bench exited with code {exit_code}: {last}", log_tail)

    def _redact(self, text: str) -> str:
        if self.api_key in ("", PLACEHOLDER_API_KEY):
            return text
        return text.replace(self.api_key, SCRUBBED)


def _all_failed_reason(level: LevelResult) -> str:
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

"""The simulator's command line and the engine-neutral arguments its core runs on.

    python -m autotuner.sim.server --sim-engine {sglang|vllm} --sim-engine-version V --sim-gpu G
        --sim-model M --sim-startup-scale X [--sim-seed N] -- <server argv>

``<server argv>`` is what follows the program in the engine's own launch command (SGLang: after
``python -m sglang.launch_server``; vLLM: after ``vllm serve``). It is checked against the option
table recorded from that engine version's parser (:mod:`autotuner.flavors.option_table`): what the
engine rejects, the simulator rejects with the engine's message and status 2. The accepted values
(the version's defaults where a flag is absent) become a :class:`SimServerArgs` through the
engine's module in :mod:`autotuner.sim.engine_models`.

>>> a = parse_argv(["--sim-engine", "sglang", "--sim-engine-version", "0.5.19", "--sim-gpu", "H200",
...                 "--", "--model-path", "meta-llama/Llama-3.1-8B-Instruct", "--tp-size", "2",
...                 "--disable-cuda-graph"])
>>> a.tp_size, a.disable_cuda_graph, a.sim_gpu
(2, True, 'H200')
>>> r = a.resolved()
>>> r.mem_fraction_static, r.chunked_prefill_size, r.cuda_graph_max_bs, r.sim_model
(0.909, 8192, 256, 'Llama-3.1-8B')
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autotuner.flavors.argparse_replay import replay
from autotuner.flavors.option_table import UnknownTable, parsed_values, recorded_versions, shared_table
from autotuner.facts.gpus import resolve_gpu
from autotuner.facts.models import resolve_model
from autotuner.sim.engine_models import ENGINE_MODELS

# Bytes per cached K or V element by --kv-cache-dtype ("auto": the bf16 weights' dtype).
KV_DTYPE_BYTES = {"auto": 2, "bf16": 2, "bfloat16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "mxfp8": 1}
DEFAULT_SIM_MODEL = "Llama-3.1-8B"
DEFAULT_ENGINE = "sglang"


def newest_version(engine: str) -> str:
    """The newest recorded version of ``engine`` (what a task targets by default)."""
    return recorded_versions(engine)[-1]


@dataclass(frozen=True)
class SimServerArgs:
    """What the engine core runs on. ``None`` means "the engine's default for this GPU/model";
    see :meth:`resolved`. The scheduling fields keep SGLang's names (the core schedules like
    SGLang); vLLM's flags map onto them in :mod:`autotuner.sim.engine_models.vllm`."""

    # --- the engine ------------------------------------------------------------------------------
    engine: str = DEFAULT_ENGINE
    engine_version: str = ""  # "": the newest recorded version
    # --- scheduling and memory -------------------------------------------------------------------
    tp_size: int = 1
    dp_size: int = 1
    mem_fraction_static: float | None = None  # SGLang: share of the free memory for weights + KV
    gpu_memory_utilization: float | None = None  # vLLM: share of the whole GPU for everything
    max_running_requests: int | None = None  # SGLang: None derives it from the KV pool; vLLM max_num_seqs
    chunked_prefill_size: int | None = None  # None: by GPU memory; -1 disables chunking
    max_prefill_tokens: int | None = None  # SGLang's per-batch prefill budget; vLLM max_num_batched_tokens
    schedule_policy: str = "fcfs"
    schedule_conservativeness: float = 1.0
    cuda_graph_max_bs: int | None = None
    cuda_graph_bs: tuple[int, ...] | None = None  # captured decode batch sizes (None: the engine's list)
    disable_cuda_graph: bool = False  # no decode graphs (SGLang --disable-cuda-graph, vLLM --enforce-eager)
    prefill_cuda_graph: bool = True  # SGLang's piecewise prefill graphs (only their memory is modelled)
    kv_cache_dtype: str = "auto"
    block_size: int | None = None  # tokens per KV page (SGLang 1, vLLM 16)
    kv_reservation: bool | None = None  # admission reserves KV for the outputs to come (SGLang) or not (vLLM)
    attention_backend: str | None = None  # None: the engine's choice for this GPU and KV dtype
    enable_mixed_chunk: bool = False
    disable_radix_cache: bool = False  # no prefix cache (SGLang's flag; vLLM --no-enable-prefix-caching)
    prefix_cache: str | None = None  # how prefixes are cached: "radix" (SGLang) or "block_hash" (vLLM)
    context_length: int | None = None  # None: the model's max_position_embeddings
    # --- server ---------------------------------------------------------------------------------
    model_path: str = ""
    served_model_name: str | None = None
    tokenizer_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 30000
    api_key: str | None = dataclasses.field(default=None, repr=False)  # requests need "Bearer <key>"
    enable_metrics: bool = False  # GET /metrics (SGLang: --enable-metrics; vLLM: always)
    warnings: tuple[str, ...] = ()  # the engine's parser's deprecation warnings for the argv
    # --- simulator-only -------------------------------------------------------------------------
    sim_gpu: str = "H100"
    sim_model: str | None = None  # None: from model_path / served_model_name, else Llama-3.1-8B
    sim_startup_scale: float = 1.0  # factor on the modelled start-up time slept in wall-clock mode
    sim_seed: int = 0
    sim_noise: float = 0.02  # relative std of the multiplicative per-step time noise
    sim_stream_interval: float = 0.02  # seconds between SSE chunks of one stream (CPU saver)
    sim_host_stall: float = 0.0  # seconds the process blocks after each step: a starved host, made on purpose

    def __post_init__(self) -> None:
        if not self.engine_version and self.engine in ENGINE_MODELS:
            object.__setattr__(self, "engine_version", newest_version(self.engine))

    def validate(self) -> None:
        """Raise ValueError for values the simulator cannot run (the engine's parser checked the rest)."""
        ENGINE_MODELS.get(self.engine)
        if self.tp_size < 1 or self.dp_size < 1:
            raise ValueError("tp_size and dp_size must be >= 1")
        if self.gpu_memory_utilization is not None and not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError("gpu_memory_utilization must be in (0, 1]")
        if self.max_running_requests is not None and self.max_running_requests < 1:
            raise ValueError("max_running_requests must be >= 1")
        if self.chunked_prefill_size is not None and not (
                self.chunked_prefill_size == -1 or self.chunked_prefill_size >= 1):
            raise ValueError("chunked_prefill_size must be >= 1 or -1 (disabled)")
        if self.max_prefill_tokens is not None and self.max_prefill_tokens < 1:
            raise ValueError("max_prefill_tokens must be >= 1")
        if self.schedule_conservativeness <= 0:
            raise ValueError("schedule_conservativeness must be > 0")
        if self.cuda_graph_max_bs is not None and self.cuda_graph_max_bs < 1:
            raise ValueError("cuda_graph_max_bs must be >= 1")
        if self.kv_cache_dtype not in KV_DTYPE_BYTES:
            raise ValueError(f"the simulator models kv_cache_dtype {', '.join(KV_DTYPE_BYTES)}, "
                             f"not {self.kv_cache_dtype!r}")
        if min(self.sim_startup_scale, self.sim_noise, self.sim_stream_interval, self.sim_host_stall) < 0:
            raise ValueError("sim_startup_scale, sim_noise, sim_stream_interval and sim_host_stall must be >= 0")
        resolve_gpu(self.sim_gpu)

    def model_name(self) -> str:
        """The simulated model's table name: --sim-model, else what the model path or the served
        name names, else Llama-3.1-8B (e.g. when the model path is a tokenizer folder)."""
        if self.sim_model:
            return resolve_model(self.sim_model).name
        for candidate in (self.model_path, self.served_model_name):
            if candidate:
                try:
                    return resolve_model(candidate).name
                except KeyError:
                    pass
        return DEFAULT_SIM_MODEL

    def resolved(self) -> SimServerArgs:
        """A copy with the GPU/model-dependent defaults filled in the way the engine picks them."""
        gpu = resolve_gpu(self.sim_gpu)
        model = resolve_model(self.model_name())
        changes: dict[str, Any] = {"sim_gpu": gpu.name, "sim_model": model.name,
                                   "context_length": self.context_length or model.max_context,
                                   "served_model_name": self.served_model_name or self.model_path or model.hf_id}
        changes.update(ENGINE_MODELS.get(self.engine).defaults(self, gpu, model))
        return dataclasses.replace(self, **changes)

    @property
    def chunked_prefill_enabled(self) -> bool:
        return self.chunked_prefill_size is not None and self.chunked_prefill_size > 0

    @property
    def kv_dtype_bytes(self) -> int:
        return KV_DTYPE_BYTES[self.kv_cache_dtype]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build_sim_parser() -> argparse.ArgumentParser:
    """The simulator's own options, before ``--``."""
    p = argparse.ArgumentParser(
        prog="python -m autotuner.sim.server",
        usage="%(prog)s [--sim-* options] -- <the engine's server arguments>",
        description="A SIMULATOR of an SGLang or vLLM server (not the engine): OpenAI-compatible HTTP API "
                    "with modelled timings. After '--' come the engine's own server arguments, checked "
                    "against the option table recorded from that engine version's parser.",
    )
    d = SimServerArgs()
    add = p.add_argument
    add("--sim-engine", choices=tuple(ENGINE_MODELS), default=DEFAULT_ENGINE)
    add("--sim-engine-version", default=None, help="a recorded version (default: the newest)")
    add("--sim-gpu", default=d.sim_gpu, help="H100 | H200 | A100-80G | L40S")
    add("--sim-model", default=None, help="model table name or HF id")
    add("--sim-startup-scale", type=float, default=d.sim_startup_scale)
    add("--sim-seed", type=int, default=d.sim_seed)
    add("--sim-noise", type=float, default=d.sim_noise)
    add("--sim-stream-interval", type=float, default=d.sim_stream_interval)
    add("--sim-host-stall", type=float, default=d.sim_host_stall,
        help="block the process this many seconds after each step, as a starved host would (tests)")
    return p


def engine_error(table: Mapping[str, Any], message: str) -> None:
    """Exit like the engine's argparse does on a rejected argv: usage, ``prog: error: ...``, 2."""
    prog = table.get("parser", {}).get("prog", table["engine"])
    print(f"usage: {prog} [options]\n{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse_argv(argv: Sequence[str]) -> SimServerArgs:
    """Parse ``--sim-* -- <server argv>``; a rejected argv exits with status 2 like argparse."""
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = build_sim_parser()
    sim = parser.parse_args(argv[:split])
    version = sim.sim_engine_version or newest_version(sim.sim_engine)
    try:
        table = shared_table(sim.sim_engine, version)  # only read here
    except UnknownTable as exc:
        parser.error(f"argument --sim-engine-version: {exc}")
    server_argv = argv[split + 1:]
    verdict = replay(table, server_argv)
    if verdict.errors:
        engine_error(table, verdict.errors[0])
    fields = ENGINE_MODELS.get(sim.sim_engine).server_fields(parsed_values(table, server_argv))
    return SimServerArgs(
        engine=sim.sim_engine, engine_version=version, warnings=tuple(verdict.warnings),
        sim_gpu=sim.sim_gpu, sim_model=sim.sim_model, sim_startup_scale=sim.sim_startup_scale,
        sim_seed=sim.sim_seed, sim_noise=sim.sim_noise, sim_stream_interval=sim.sim_stream_interval,
        sim_host_stall=sim.sim_host_stall, **fields)


__all__ = ["DEFAULT_ENGINE", "KV_DTYPE_BYTES", "SimServerArgs", "build_sim_parser", "newest_version",
           "parse_argv"]

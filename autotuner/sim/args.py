"""The simulator's server arguments: SGLang's own names, flags and defaults, plus ``sim_*`` knobs.

Every parameter the tuner can set (``autotuner.engines.flavors.sglang``) is accepted
with the same flag spelling ``sglang.launch_server`` uses.

>>> a = parse_argv(["--model-path", "meta-llama/Llama-3.1-8B-Instruct", "--tp-size", "2",
...                 "--disable-cuda-graph", "--sim-gpu", "H200"])
>>> a.tp_size, a.disable_cuda_graph, a.sim_gpu
(2, True, 'H200')
>>> r = a.resolved()
>>> r.mem_fraction_static, r.chunked_prefill_size, r.cuda_graph_max_bs, r.sim_model
(0.87, 8192, 256, 'Llama-3.1-8B')
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autotuner.sim.hardware import GIB, resolve_gpu
from autotuner.sim.models import resolve_model

SCHEDULE_POLICIES = ("lpm", "random", "fcfs", "dfs-weight")
KV_CACHE_DTYPES = ("auto", "fp8_e5m2", "fp8_e4m3")
DEFAULT_SIM_MODEL = "Llama-3.1-8B"


@dataclass(frozen=True)
class SimServerArgs:
    """Server arguments. ``None`` means "SGLang's default for this GPU/model"; see :meth:`resolved`."""

    # --- SGLang's tunables (names and defaults as in sglang.srt.server_args.ServerArgs) -------
    tp_size: int = 1
    dp_size: int = 1
    mem_fraction_static: float | None = None
    max_running_requests: int | None = None  # None: derived from the KV pool at start-up
    chunked_prefill_size: int | None = None  # None: by GPU memory; -1 disables chunking
    max_prefill_tokens: int = 16384
    schedule_policy: str = "fcfs"
    schedule_conservativeness: float = 1.0
    cuda_graph_max_bs: int | None = None
    disable_cuda_graph: bool = False
    kv_cache_dtype: str = "auto"
    enable_mixed_chunk: bool = False
    disable_radix_cache: bool = False
    context_length: int | None = None  # None: the model's max_position_embeddings
    # --- server ---------------------------------------------------------------------------------
    model_path: str = ""
    served_model_name: str | None = None
    tokenizer_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 30000
    api_key: str | None = dataclasses.field(default=None, repr=False)  # requests need "Bearer <key>"
    # --- simulator-only -------------------------------------------------------------------------
    sim_gpu: str = "H100"
    sim_model: str | None = None  # None: from model_path / served_model_name, else Llama-3.1-8B
    sim_startup_scale: float = 1.0  # factor on the modelled start-up time slept in wall-clock mode
    sim_seed: int = 0
    sim_noise: float = 0.02  # relative std of the multiplicative per-step time noise
    sim_stream_interval: float = 0.02  # seconds between SSE chunks of one stream (CPU saver)

    def validate(self) -> None:
        """Raise ValueError for values SGLang's argument checks would refuse."""
        if self.tp_size < 1 or self.dp_size < 1:
            raise ValueError("tp_size and dp_size must be >= 1")
        if self.mem_fraction_static is not None and not 0.0 < self.mem_fraction_static < 1.0:
            raise ValueError("mem_fraction_static must be in (0, 1)")
        if self.max_running_requests is not None and self.max_running_requests < 1:
            raise ValueError("max_running_requests must be >= 1")
        if self.chunked_prefill_size is not None and not (
                self.chunked_prefill_size == -1 or self.chunked_prefill_size >= 1):
            raise ValueError("chunked_prefill_size must be >= 1 or -1 (disabled)")
        if self.max_prefill_tokens < 1:
            raise ValueError("max_prefill_tokens must be >= 1")
        if self.schedule_policy not in SCHEDULE_POLICIES:
            raise ValueError(f"schedule_policy must be one of {', '.join(SCHEDULE_POLICIES)}")
        if self.schedule_conservativeness <= 0:
            raise ValueError("schedule_conservativeness must be > 0")
        if self.cuda_graph_max_bs is not None and self.cuda_graph_max_bs < 1:
            raise ValueError("cuda_graph_max_bs must be >= 1")
        if self.kv_cache_dtype not in KV_CACHE_DTYPES:
            raise ValueError(f"kv_cache_dtype must be one of {', '.join(KV_CACHE_DTYPES)}")
        if self.sim_startup_scale < 0 or self.sim_noise < 0 or self.sim_stream_interval < 0:
            raise ValueError("sim_startup_scale, sim_noise and sim_stream_interval must be >= 0")
        resolve_gpu(self.sim_gpu)

    def model_name(self) -> str:
        """The simulated model's table name: --sim-model, else what --model-path or
        --served-model-name names, else Llama-3.1-8B (e.g. when model_path is a tokenizer folder)."""
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
        """A copy with the GPU/model-dependent defaults filled in the way SGLang picks them."""
        gpu = resolve_gpu(self.sim_gpu)
        model = resolve_model(self.model_name())
        mem_gib = gpu.memory_bytes / GIB
        changes: dict[str, Any] = {"sim_gpu": gpu.name, "sim_model": model.name}
        if self.mem_fraction_static is None:
            changes["mem_fraction_static"] = default_mem_fraction_static(self.tp_size)
        if self.chunked_prefill_size is None:
            # SGLang: small GPUs get smaller chunks so prefill activations fit.
            changes["chunked_prefill_size"] = 2048 if mem_gib < 35 else 4096 if mem_gib < 60 else 8192
        if self.cuda_graph_max_bs is None:
            changes["cuda_graph_max_bs"] = default_cuda_graph_max_bs(self.tp_size, mem_gib)
        if self.context_length is None:
            changes["context_length"] = model.max_context
        if not self.served_model_name:
            changes["served_model_name"] = self.model_path or model.hf_id
        return dataclasses.replace(self, **changes)

    @property
    def chunked_prefill_enabled(self) -> bool:
        return self.chunked_prefill_size is not None and self.chunked_prefill_size > 0

    @property
    def kv_dtype_bytes(self) -> int:
        return 1 if self.kv_cache_dtype.startswith("fp8") else 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_mem_fraction_static(tp_size: int) -> float:
    """SGLang's default: more GPUs per replica need more room for communication buffers."""
    if tp_size >= 16:
        return 0.79
    if tp_size >= 8:
        return 0.81
    if tp_size >= 4:
        return 0.85
    if tp_size >= 2:
        return 0.87
    return 0.88


def default_cuda_graph_max_bs(tp_size: int, mem_gib: float) -> int:
    """SGLang's default largest captured decode batch, by GPU memory and tp."""
    if mem_gib < 35:
        return 8 if tp_size < 4 else 80
    if mem_gib < 60:
        return 80 if tp_size < 4 else 160
    if mem_gib < 100:
        return 160 if tp_size < 4 else 256
    return 256 if tp_size < 4 else 512


def _bool_flag(parser: argparse.ArgumentParser, *flags: str, dest: str, help: str) -> None:
    parser.add_argument(*flags, dest=dest, action="store_true", default=False, help=help)


def build_parser() -> argparse.ArgumentParser:
    """argparse with SGLang's spellings (``--tp-size``, ``--mem-fraction-static`` ...)."""
    p = argparse.ArgumentParser(
        prog="python -m autotuner.sim.server",
        description="A SIMULATOR of an SGLang server (not SGLang): OpenAI-compatible HTTP API with "
                    "modelled timings. Accepts sglang.launch_server's flags plus --sim-*.",
    )
    d = SimServerArgs()
    add = p.add_argument
    add("--model-path", "--model", dest="model_path", default=d.model_path)
    add("--tokenizer-path", dest="tokenizer_path", default=None)
    add("--served-model-name", dest="served_model_name", default=None)
    add("--host", default=d.host)
    add("--port", type=int, default=d.port)
    add("--tp-size", "--tp", "--tensor-parallel-size", dest="tp_size", type=int, default=d.tp_size)
    add("--dp-size", "--dp", "--data-parallel-size", dest="dp_size", type=int, default=d.dp_size)
    add("--mem-fraction-static", dest="mem_fraction_static", type=float, default=None)
    add("--max-running-requests", dest="max_running_requests", type=int, default=None)
    add("--chunked-prefill-size", dest="chunked_prefill_size", type=int, default=None)
    add("--max-prefill-tokens", dest="max_prefill_tokens", type=int, default=d.max_prefill_tokens)
    add("--schedule-policy", dest="schedule_policy", choices=SCHEDULE_POLICIES, default=d.schedule_policy)
    add("--schedule-conservativeness", dest="schedule_conservativeness", type=float,
        default=d.schedule_conservativeness)
    add("--cuda-graph-max-bs", "--cuda-graph-max-bs-decode", dest="cuda_graph_max_bs", type=int, default=None)
    for phase in ("decode", "prefill"):
        add(f"--cuda-graph-backend-{phase}", dest=f"cuda_graph_backend_{phase}", default=None,
            choices=("full", "breakable", "disabled"))
    _bool_flag(p, "--disable-cuda-graph", dest="disable_cuda_graph", help="decode without CUDA graphs")
    add("--kv-cache-dtype", dest="kv_cache_dtype", choices=KV_CACHE_DTYPES, default=d.kv_cache_dtype)
    _bool_flag(p, "--enable-mixed-chunk", dest="enable_mixed_chunk", help="mix prefill chunks into decode")
    _bool_flag(p, "--disable-radix-cache", dest="disable_radix_cache", help="no prefix cache")
    add("--context-length", dest="context_length", type=int, default=None)
    # Accepted for compatibility with launch scripts; they change nothing in the simulation.
    add("--api-key", dest="api_key", default=None,
        help="require 'Authorization: Bearer KEY' on every route but /health*, as SGLang does")
    for flag in ("--log-level", "--log-level-http", "--dtype", "--random-seed",
                 "--attention-backend", "--load-format", "--quantization", "--chat-template"):
        add(flag, dest="_ignored_" + flag.strip("-").replace("-", "_"), default=None, help=argparse.SUPPRESS)
    for flag in ("--trust-remote-code", "--enable-metrics", "--skip-server-warmup", "--disable-log-requests",
                 "--enable-torch-compile"):
        _bool_flag(p, flag, dest="_ignored_" + flag.strip("-").replace("-", "_"), help=argparse.SUPPRESS)
    add("--sim-engine", dest="sim_engine", choices=("sglang",), default="sglang")
    add("--sim-engine-version", dest="sim_engine_version", default=None)
    add("--sim-gpu", dest="sim_gpu", default=d.sim_gpu, help="H100 | H200 | A100-80G | L40S")
    add("--sim-model", dest="sim_model", default=None, help="model table name or HF id")
    add("--sim-startup-scale", dest="sim_startup_scale", type=float, default=d.sim_startup_scale)
    add("--sim-seed", dest="sim_seed", type=int, default=d.sim_seed)
    add("--sim-noise", dest="sim_noise", type=float, default=d.sim_noise)
    add("--sim-stream-interval", dest="sim_stream_interval", type=float, default=d.sim_stream_interval)
    return p


def parse_argv(argv: Sequence[str]) -> SimServerArgs:
    """Parse SGLang-style flags; unknown flags exit with status 2 like argparse (and SGLang) do."""
    argv = list(argv)
    if "--" in argv:  # --sim-* options, then the engine's server argv (one parser here)
        argv.remove("--")
    ns = build_parser().parse_args(argv)
    if "disabled" in (ns.cuda_graph_backend_decode, ns.cuda_graph_backend_prefill):
        ns.disable_cuda_graph = True
    fields = {f.name for f in dataclasses.fields(SimServerArgs)}
    return SimServerArgs(**{k: v for k, v in vars(ns).items() if k in fields})


__all__ = [
    "KV_CACHE_DTYPES", "SCHEDULE_POLICIES", "SimServerArgs", "build_parser",
    "default_cuda_graph_max_bs", "default_mem_fraction_static", "parse_argv",
]

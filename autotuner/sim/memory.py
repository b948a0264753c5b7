"""Start-up memory plan, the way SGLang lays out GPU memory, and the start-up time it takes.

SGLang measures the free memory of each GPU, loads the weights, then gives the KV cache pool
whatever is left inside ``mem_fraction_static`` of that memory::

    kv_pool = free * mem_fraction_static - weights          (per GPU)

Everything else must fit in ``free * (1 - mem_fraction_static)``: the request-to-token table,
workspaces and NCCL buffers, the CUDA graph memory pool (grows with ``cuda_graph_max_bs``) and the
activations of the largest prefill batch (grow with ``chunked_prefill_size``). When something
does not fit, start-up fails with the error SGLang prints.

>>> from autotuner.sim.args import SimServerArgs
>>> plan = plan_memory(SimServerArgs(sim_model="Llama-3.1-8B"))
>>> plan.kv_tokens > 400_000, plan.max_running_requests
(True, 2048)
>>> plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", mem_fraction_static=0.15))  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
...
autotuner.sim.memory.StartupFailure: RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from autotuner.sim.args import SimServerArgs
from autotuner.sim.hardware import GIB, MIB, GpuSpec, resolve_gpu
from autotuner.sim.models import ModelSpec, resolve_model

# Fixed per-GPU buffers outside the static pool: flashinfer workspace (~384 MiB), cuBLAS
# workspaces, sampling buffers and the torch allocator's slack.
RUNTIME_RESERVE_BYTES = 1 * GIB
# NCCL communicators + SGLang's custom all-reduce buffers when the model is split.
TP_COMM_RESERVE_BYTES = 640 * MIB
# The caching allocator rounds and fragments; activations take ~25% more than their tensors.
ALLOCATOR_OVERHEAD = 1.25
# One captured CUDA graph keeps its own small private buffers besides the shared pool.
PER_GRAPH_BYTES = 4 * MIB

# Start-up time model (seconds): process + NCCL init, weight read rate, per-graph capture.
INIT_BASE_S = 6.0
INIT_PER_TP_DOUBLING_S = 1.5
WEIGHT_LOAD_BYTES_PER_S = 3.0e9  # safetensors from local NVMe / page cache, whole node
GRAPH_CAPTURE_BASE_S = 0.05
GRAPH_CAPTURE_PER_LAYER_S = 0.003
WARMUP_S = 1.0
GPUS_PER_NODE = 8


class StartupFailure(Exception):
    """The server cannot start with these arguments (what SGLang would die of).

    ``message`` is the log line (SGLang-like), ``exit_code`` the process status, ``phase`` where it
    happened, and ``after_s`` the modelled seconds of start-up spent before it failed.
    """

    def __init__(self, message: str, exit_code: int = 1, *, phase: str = "args", after_s: float = 0.0):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.phase = phase
        self.after_s = after_s


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory layout of one replica (tp GPUs, identical), plus derived limits."""

    args: SimServerArgs  # resolved (no None defaults left, max_running_requests still the user's)
    gpu: GpuSpec
    model: ModelSpec
    free_bytes: int  # what SGLang sees free before loading (board minus CUDA context)
    weight_bytes: int
    static_bytes: int  # free * mem_fraction_static
    kv_pool_bytes: int
    kv_bytes_per_token: int
    kv_tokens: int  # SGLang's max_total_num_tokens (per replica)
    max_num_reqs: int  # size of the request-to-token table
    max_running_requests: int  # effective, per replica
    req_to_token_bytes: int
    runtime_reserve_bytes: int
    cuda_graph_bytes: int
    activation_bytes: int
    headroom_bytes: int  # free memory left after everything (>= 0 when start-up succeeds)
    capture_batch_sizes: tuple[int, ...]
    cuda_graph_max_bs: int  # 0 when CUDA graphs are disabled
    prefill_tokens_per_batch: int  # the largest prefill batch the activations are sized for
    init_s: float
    load_s: float
    cuda_graph_s: float
    warmup_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gpus(self) -> int:
        return self.args.tp_size * self.args.dp_size

    @property
    def startup_s(self) -> float:
        return startup_seconds(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (GiB figures rounded) for /get_server_info and logs."""
        g = lambda b: round(b / GIB, 3)
        return {
            "gpu": self.gpu.name, "model": self.model.name, "tp_size": self.args.tp_size,
            "dp_size": self.args.dp_size, "free_gib": g(self.free_bytes),
            "weights_gib": g(self.weight_bytes), "static_gib": g(self.static_bytes),
            "kv_pool_gib": g(self.kv_pool_bytes), "kv_bytes_per_token": self.kv_bytes_per_token,
            "max_total_num_tokens": self.kv_tokens, "max_running_requests": self.max_running_requests,
            "req_to_token_gib": g(self.req_to_token_bytes), "runtime_reserve_gib": g(self.runtime_reserve_bytes),
            "cuda_graph_gib": g(self.cuda_graph_bytes), "activations_gib": g(self.activation_bytes),
            "headroom_gib": g(self.headroom_bytes), "cuda_graph_max_bs": self.cuda_graph_max_bs,
            "num_captured_graphs": len(self.capture_batch_sizes),
            "startup_s": round(self.startup_s, 2), "init_s": round(self.init_s, 2),
            "load_s": round(self.load_s, 2), "cuda_graph_s": round(self.cuda_graph_s, 2),
            "notes": list(self.notes),
        }


def capture_batch_sizes(cuda_graph_max_bs: int, max_running_requests: int) -> tuple[int, ...]:
    """Decode batch sizes SGLang captures: 1, 2, 4, 8, then every 8 to 160, every 16 beyond,
    up to ``cuda_graph_max_bs`` (which is always included), never above the request limit."""
    top = min(cuda_graph_max_bs, max_running_requests)
    sizes = [1, 2, 4, 8] + list(range(16, 161, 8)) + list(range(176, top + 1, 16))
    sizes = sorted({s for s in sizes if s <= top} | {top})
    return tuple(sizes)


def activation_bytes(model: ModelSpec, tp: int, tokens: int) -> int:
    """Peak activation memory of a forward over ``tokens`` tokens on one GPU: residual stream and
    norm/attention outputs (hidden-sized), this GPU's q/k/v, and gate/up/act of the MLP."""
    per_token = 2 * (6 * model.hidden_size + (model.q_dim + 2 * model.kv_dim) // tp
                     + 3 * model.intermediate_size // tp)
    return int(tokens * per_token * ALLOCATOR_OVERHEAD)


def cuda_graph_bytes(model: ModelSpec, tp: int, sizes: tuple[int, ...]) -> int:
    """The graphs share one memory pool sized by the largest batch: its activations plus fp32
    logits over the full vocabulary (gathered on every GPU) and the sampler's copy of them."""
    if not sizes:
        return 0
    max_bs = max(sizes)
    logits = max_bs * model.vocab_size * 4 * 2
    return len(sizes) * PER_GRAPH_BYTES + activation_bytes(model, tp, max_bs) + logits


def _gib(b: float) -> str:
    return f"{b / GIB:.2f} GiB"


def plan_memory(args: SimServerArgs, gpu: GpuSpec | None = None, model: ModelSpec | None = None) -> MemoryPlan:
    """Lay out memory like SGLang; raise :class:`StartupFailure` where SGLang would fail."""
    try:
        args.validate()
    except (ValueError, KeyError) as exc:
        raise StartupFailure(f"ValueError: {exc}", 1, phase="args") from None
    try:
        args = args.resolved()
    except KeyError as exc:
        raise StartupFailure(f"ValueError: {exc.args[0]}", 1, phase="args") from None
    gpu = gpu or resolve_gpu(args.sim_gpu)
    model = model or resolve_model(args.model_name())
    tp, dp = args.tp_size, args.dp_size
    notes: list[str] = []

    # --- checks SGLang makes before touching the GPUs ------------------------------------------
    if tp * dp > GPUS_PER_NODE:
        raise StartupFailure(
            f"RuntimeError: tp_size * dp_size = {tp * dp} GPUs requested, but the (simulated) node has "
            f"{GPUS_PER_NODE} GPUs.", 1, phase="args")
    if model.num_attention_heads % tp:
        raise StartupFailure(
            f"AssertionError: Total number of attention heads ({model.num_attention_heads}) must be "
            f"divisible by tensor parallel size ({tp}).", 1, phase="args")
    if model.num_kv_heads % tp and tp % model.num_kv_heads:
        raise StartupFailure(
            f"AssertionError: Number of KV heads ({model.num_kv_heads}) and tensor parallel size ({tp}) "
            "must divide one another.", 1, phase="args")
    if args.kv_cache_dtype != "auto" and not gpu.supports_fp8:
        notes.append(f"{gpu.name} has no FP8 tensor cores: fp8 KV is stored as fp8 and upcast in kernels")

    init_s = INIT_BASE_S + INIT_PER_TP_DOUBLING_S * math.log2(tp)
    total_weight_bytes = model.computed_params * 2
    load_s = total_weight_bytes / WEIGHT_LOAD_BYTES_PER_S

    # --- load weights --------------------------------------------------------------------------
    free = gpu.memory_bytes - gpu.context_bytes
    weights = model.weight_bytes_per_gpu(tp)
    if weights > free:
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {_gib(weights - free)} while "
            f"loading weights. GPU 0 has a total capacity of {_gib(gpu.memory_bytes)} of which "
            f"{_gib(free)} is free ({model.name} needs {_gib(weights)} per GPU at tp_size={tp}).",
            1, phase="load", after_s=init_s + load_s * free / weights)

    # --- KV pool inside the static fraction ------------------------------------------------------
    mem_fraction = float(args.mem_fraction_static)  # resolved, never None here
    static = int(free * mem_fraction)
    kv_pool = static - weights
    kv_per_token = model.kv_bytes_per_token(tp, args.kv_dtype_bytes)
    kv_tokens = max(0, kv_pool) // kv_per_token
    after_load = init_s + load_s
    if kv_tokens <= 0:
        raise StartupFailure(
            "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.",
            1, phase="kv_cache", after_s=after_load)

    # --- request table and limits (SGLang's model_runner / tp_worker) ----------------------------
    context_len = int(args.context_length or model.max_context)
    if args.max_running_requests is None:
        max_num_reqs = min(max(int(kv_tokens / context_len * 512), 2048), 4096)
        max_running = min(kv_tokens // 2, max_num_reqs)
    else:
        max_num_reqs = args.max_running_requests
        max_running = min(args.max_running_requests, max_num_reqs)
    max_running = max(1, max_running)
    req_to_token = (max_num_reqs + 1) * context_len * 4  # int32 token slots per request row
    reserve = RUNTIME_RESERVE_BYTES + (TP_COMM_RESERVE_BYTES if tp > 1 else 0)
    rest = free - static
    used = req_to_token + reserve
    if used > rest:
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {_gib(req_to_token)} for the "
            f"req_to_token pool ({max_num_reqs} requests x {context_len} tokens). Only {_gib(rest - reserve)} "
            "is left outside --mem-fraction-static; decrease --mem-fraction-static, "
            "--max-running-requests or --context-length.",
            1, phase="kv_cache", after_s=after_load)

    # --- CUDA graphs -----------------------------------------------------------------------------
    if args.disable_cuda_graph:
        sizes: tuple[int, ...] = ()
    else:
        sizes = capture_batch_sizes(int(args.cuda_graph_max_bs), max_running)
    graphs = cuda_graph_bytes(model, tp, sizes)
    graph_s = len(sizes) * (GRAPH_CAPTURE_BASE_S + GRAPH_CAPTURE_PER_LAYER_S * model.num_layers)
    if used + graphs > rest:
        # SGLang's own text from cuda_graph_runner.py, after the torch error.
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory during CUDA graph capture (needs {_gib(graphs)}, "
            f"{_gib(max(0, rest - used))} free).\n"
            "Exception: Capture cuda graph failed: CUDA out of memory\n"
            "Possible solutions:\n"
            "1. set --mem-fraction-static to a smaller value (e.g., 0.8 or 0.7)\n"
            "2. set --cuda-graph-max-bs to a smaller value (e.g., 16)\n"
            "3. disable torch compile by not using --enable-torch-compile\n"
            "4. disable CUDA graph by --disable-cuda-graph. (Not recommended. Huge performance loss)",
            1, phase="cuda_graph", after_s=after_load + graph_s * 0.5)
    used += graphs

    # --- activations of the largest prefill batch --------------------------------------------------
    if args.chunked_prefill_enabled:
        prefill_tokens = min(int(args.chunked_prefill_size), args.max_prefill_tokens)
    else:
        prefill_tokens = args.max_prefill_tokens
    acts = activation_bytes(model, tp, prefill_tokens)
    if used + acts > rest:
        # Real SGLang starts and then dies at the first such batch; the simulator checks it up
        # front so the tuner sees a start-up failure instead of a crash in the middle of a benchmark.
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {_gib(acts)} for the "
            f"activations of a {prefill_tokens}-token prefill batch. GPU 0 has a total capacity of "
            f"{_gib(gpu.memory_bytes)} of which {_gib(max(0, rest - used))} is free. (simulator: the "
            "largest prefill batch, min(--chunked-prefill-size, --max-prefill-tokens), must fit outside "
            "--mem-fraction-static; decrease one of them or --mem-fraction-static)",
            1, phase="activations", after_s=after_load + graph_s)
    used += acts

    return MemoryPlan(
        args=args, gpu=gpu, model=model, free_bytes=free, weight_bytes=weights, static_bytes=static,
        kv_pool_bytes=kv_pool, kv_bytes_per_token=kv_per_token, kv_tokens=int(kv_tokens),
        max_num_reqs=max_num_reqs, max_running_requests=max_running, req_to_token_bytes=req_to_token,
        runtime_reserve_bytes=reserve, cuda_graph_bytes=graphs, activation_bytes=acts,
        headroom_bytes=rest - used, capture_batch_sizes=sizes,
        cuda_graph_max_bs=max(sizes) if sizes else 0, prefill_tokens_per_batch=prefill_tokens,
        init_s=init_s, load_s=load_s, cuda_graph_s=graph_s, warmup_s=WARMUP_S, notes=tuple(notes),
    )


def startup_seconds(plan: MemoryPlan) -> float:
    """Modelled wall time from launch to ready: init (+NCCL), weight load, CUDA graph capture
    (proportional to the number of captured batch sizes), warm-up. dp replicas start in parallel."""
    return plan.init_s + plan.load_s + plan.cuda_graph_s + plan.warmup_s


__all__ = ["MemoryPlan", "StartupFailure", "activation_bytes", "capture_batch_sizes",
           "cuda_graph_bytes", "plan_memory", "startup_seconds"]

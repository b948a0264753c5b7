"""What both engines' memory plans are made of: the plan itself, start-up failures, and the sizes
of activations and CUDA graphs. The engine-specific layouts are in :mod:`autotuner.sim.engine_models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autotuner.facts.gpus import GIB, MIB, GpuSpec
from autotuner.facts.models import ModelSpec

if TYPE_CHECKING:
    from autotuner.sim.args import SimServerArgs

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


class StartupFailure(Exception):
    """The server cannot start with these arguments (what the engine would die of).

    ``message`` is the engine's log line, ``exit_code`` the process status, ``phase`` where it
    happened, and ``after_s`` the modelled seconds of start-up spent before it failed.
    """

    def __init__(self, message: str, exit_code: int = 1, *, phase: str = "args", after_s: float = 0.0):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.phase = phase
        self.after_s = after_s


@dataclass(frozen=True)
class Startup:
    """What both engines have done before they lay out the KV cache: the checks passed, the
    weights loaded. The figures are per GPU of one replica."""

    args: SimServerArgs  # resolved
    gpu: GpuSpec
    model: ModelSpec
    free_bytes: int  # what the engine sees free before loading (board minus CUDA context)
    weight_bytes: int
    kv_bytes_per_token: int
    init_s: float
    load_s: float
    notes: tuple[str, ...]

    @property
    def after_load_s(self) -> float:
        return self.init_s + self.load_s


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory layout of one replica (tp GPUs, identical), plus derived limits."""

    args: SimServerArgs  # resolved (no None defaults left, max_running_requests still the user's)
    gpu: GpuSpec
    model: ModelSpec
    free_bytes: int  # what the engine sees free before loading (board minus CUDA context)
    weight_bytes: int
    static_bytes: int  # the engine's share: SGLang free * mem_fraction_static; vLLM total * utilization
    kv_pool_bytes: int
    kv_bytes_per_token: int
    kv_tokens: int  # SGLang's max_total_num_tokens, vLLM's num_gpu_blocks * block_size (per replica)
    max_num_reqs: int  # SGLang: size of the request-to-token table; vLLM: max_num_seqs
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
            "engine": self.args.engine, "engine_version": self.args.engine_version,
            "attention_backend": self.args.attention_backend,
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


def runtime_reserve_bytes(tp: int) -> int:
    """Buffers outside the engine's share that both engines keep: workspaces, and NCCL under tp."""
    return RUNTIME_RESERVE_BYTES + (TP_COMM_RESERVE_BYTES if tp > 1 else 0)


def captured_graphs(start: Startup, max_running: int) -> tuple[tuple[int, ...], int, float]:
    """(batch sizes captured, their memory, their capture time): the engine's sizes that a running
    batch can reach, none when CUDA graphs are off."""
    args = start.args
    sizes = () if args.disable_cuda_graph else tuple(s for s in args.cuda_graph_bs or () if s <= max_running)
    return sizes, cuda_graph_bytes(start.model, args.tp_size, sizes), graph_capture_seconds(start.model, sizes)


def gib(b: float) -> str:
    """``12.34 GiB``, as both engines print memory."""
    return f"{b / GIB:.2f} GiB"


def graph_capture_seconds(model: ModelSpec, sizes: tuple[int, ...]) -> float:
    """Modelled time to capture one CUDA graph per batch size."""
    return len(sizes) * (GRAPH_CAPTURE_BASE_S + GRAPH_CAPTURE_PER_LAYER_S * model.num_layers)


def startup_seconds(plan: MemoryPlan) -> float:
    """Modelled wall time from launch to ready: init (+NCCL), weight load, CUDA graph capture
    (proportional to the number of captured batch sizes), warm-up. dp replicas start in parallel."""
    return plan.init_s + plan.load_s + plan.cuda_graph_s + plan.warmup_s


__all__ = ["MemoryPlan", "Startup", "StartupFailure", "activation_bytes", "captured_graphs", "cuda_graph_bytes",
           "gib", "graph_capture_seconds", "runtime_reserve_bytes", "startup_seconds"]

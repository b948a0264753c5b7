"""The fit rules, written once: whether a parallel layout and a model's weights fit the GPUs.

Validation (:mod:`autotuner.task.rules`), the pre-deployment checks (:mod:`autotuner.trial.feasibility`)
and the simulator's start-up (:mod:`autotuner.sim.memory`) all ask these; each words its own
message for its reader (a task field, a rejected trial, the engine's log line).

>>> fits_node(tp=4, dp=2, gpus_per_node=8), fits_node(tp=4, dp=4, gpus_per_node=8)
(True, False)
>>> divides_heads(heads=28, tp=8), divides_heads(heads=None, tp=8)
(False, True)
>>> weights_fit(weight_bytes_per_gpu(8e9, tp=1), memory_bytes=80e9, fraction=0.9)
True
>>> size_facts("Llama-3.1-70B", "H100")
SizeFacts(num_attention_heads=64, params_billion=70.553706496, gpu_memory_gb=85.520809984)
"""

from __future__ import annotations

from dataclasses import dataclass

from autotuner.facts.gpus import GPUS
from autotuner.facts.models import resolve_model

WEIGHT_DTYPE_BYTES = 2  # bf16 weights


def gpus_needed(tp: int, dp: int) -> int:
    """GPUs one config holds: ``dp`` replicas of ``tp`` GPUs each."""
    return tp * dp


def fits_node(tp: int, dp: int, gpus_per_node: int) -> bool:
    """Whether all of a config's GPUs are on one node (both engines run on one node here)."""
    return gpus_needed(tp, dp) <= gpus_per_node


def divides_heads(heads: int | None, tp: int) -> bool:
    """Whether tensor parallelism splits the attention heads evenly (True when heads is unknown)."""
    return not heads or heads % tp == 0


def weight_bytes_per_gpu(num_params: float, tp: int) -> float:
    """Resident bf16 weights on one GPU: every weight is split ``tp`` ways."""
    return num_params * WEIGHT_DTYPE_BYTES / tp


def weights_fit(weight_bytes: float, memory_bytes: float, fraction: float = 1.0) -> bool:
    """Whether one GPU's weights fit in ``fraction`` of ``memory_bytes`` with room to spare
    (the share of memory the engine may use: SGLang's mem_fraction_static, vLLM's
    gpu_memory_utilization, or 1 for the whole board)."""
    return weight_bytes < memory_bytes * fraction


@dataclass(frozen=True)
class SizeFacts:
    """What the fit rules need to know of a task's model and GPU (None: unknown)."""

    num_attention_heads: int | None
    params_billion: float | None
    gpu_memory_gb: float | None


def size_facts(model: str, gpu: str, *, num_attention_heads: int | None = None,
               params_billion: float | None = None) -> SizeFacts:
    """The model's and GPU's size facts: the values given, else the fact tables' (when they know
    the model and GPU)."""
    try:
        spec = resolve_model(model)
        num_attention_heads = num_attention_heads or spec.num_attention_heads
        params_billion = params_billion or spec.num_params / 1e9
    except KeyError:
        pass
    board = GPUS.get(gpu)
    return SizeFacts(num_attention_heads, params_billion, board.memory_bytes / 1e9 if board else None)


__all__ = ["SizeFacts", "WEIGHT_DTYPE_BYTES", "divides_heads", "fits_node", "gpus_needed", "size_facts",
           "weight_bytes_per_gpu", "weights_fit"]

"""GPU facts: datasheet figures and the fractions a serving engine really achieves.

Used by validation, the pre-deployment checks (:mod:`autotuner.facts.fit`) and the simulator.

Peak figures come from NVIDIA's public datasheets (cited per entry). Memory sizes are what
``nvidia-smi`` reports for the board, because that is what an engine can allocate from.

>>> gpu = resolve_gpu("h100")
>>> gpu.name, round(gpu.memory_bytes / 2**30, 1)
('H100', 79.6)
>>> round(gpu.achievable_bandwidth / 1e12, 2)  # bytes/s a decode step really streams
2.68
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class GpuSpec:
    """One GPU model: capacity, peak rates, and the fraction of each that kernels achieve.

    Rates are per GPU; ``interconnect_bandwidth`` is per direction (what a ring all-reduce uses).
    """

    name: str
    memory_bytes: int  # as reported by nvidia-smi
    hbm_bandwidth: float  # bytes/s, peak
    bf16_flops: float  # dense (no sparsity) FLOP/s, peak
    fp8_flops: float  # dense FLOP/s; 0 when the GPU has no FP8 tensor cores
    interconnect: str  # "nvlink" | "pcie"
    interconnect_bandwidth: float  # bytes/s per direction between GPUs of a node
    compute_capability: tuple[int, int]  # SM version: (9, 0) is Hopper
    gpus_per_node: int = 8
    # Achievable fractions. Streaming reads of large weight/KV tensors reach ~80% of HBM peak;
    # large bf16 GEMMs in a whole model forward reach ~60% of the dense peak; NCCL/custom
    # all-reduce reaches ~75% of the link rate on large messages.
    bandwidth_fraction: float = 0.80
    flops_fraction: float = 0.60
    interconnect_fraction: float = 0.75
    # Small-message all-reduce latency: base + per participating rank (one-shot custom
    # all-reduce over NVLink is ~10 us at tp=2 and ~30 us at tp=8; PCIe is several times worse).
    allreduce_latency_base_s: float = 4e-6
    allreduce_latency_per_rank_s: float = 4e-6
    # CUDA context + torch start-up allocations that are gone before SGLang measures free memory.
    context_bytes: int = 512 * MIB

    @property
    def supports_fp8(self) -> bool:
        return self.fp8_flops > 0

    @property
    def hopper(self) -> bool:
        """An SM 9.x GPU: what FlashAttention 3 and the engines' Hopper defaults need."""
        return self.compute_capability[0] == 9

    @property
    def achievable_bandwidth(self) -> float:
        return self.hbm_bandwidth * self.bandwidth_fraction

    @property
    def achievable_flops(self) -> float:
        return self.bf16_flops * self.flops_fraction

    def achievable_bandwidth_tp(self, tp: int) -> float:
        """HBM rate per GPU when the model is split ``tp`` ways: smaller per-GPU shards make
        shorter kernels that spend more of their time ramping up and draining (~4% per doubling)."""
        return self.achievable_bandwidth * (1.0 - 0.04 * math.log2(max(1, tp)))

    def allreduce_seconds(self, message_bytes: float, tp: int) -> float:
        """One all-reduce of ``message_bytes`` over ``tp`` GPUs: latency + ring traffic
        (each GPU sends and receives 2*(tp-1)/tp of the message)."""
        if tp <= 1:
            return 0.0
        latency = self.allreduce_latency_base_s + self.allreduce_latency_per_rank_s * tp
        traffic = message_bytes * 2.0 * (tp - 1) / tp
        return latency + traffic / (self.interconnect_bandwidth * self.interconnect_fraction)


GPUS: dict[str, GpuSpec] = {
    # NVIDIA H100 Tensor Core GPU datasheet (SXM5): 80 GB HBM3, 3.35 TB/s, BF16 989 TFLOPS dense
    # (1,979 with sparsity), FP8 1,979 TFLOPS dense, NVLink 900 GB/s bidirectional.
    "H100": GpuSpec("H100", memory_bytes=81559 * MIB, hbm_bandwidth=3.35e12, bf16_flops=989e12,
                    fp8_flops=1979e12, interconnect="nvlink", interconnect_bandwidth=450e9,
                    compute_capability=(9, 0)),
    # NVIDIA H200 datasheet (SXM): 141 GB HBM3e, 4.8 TB/s, same tensor cores and NVLink as H100.
    "H200": GpuSpec("H200", memory_bytes=143771 * MIB, hbm_bandwidth=4.8e12, bf16_flops=989e12,
                    fp8_flops=1979e12, interconnect="nvlink", interconnect_bandwidth=450e9,
                    compute_capability=(9, 0)),
    # NVIDIA A100 datasheet (80GB SXM): 80 GB HBM2e, 2,039 GB/s, BF16 312 TFLOPS dense, no FP8,
    # NVLink 3 600 GB/s bidirectional.
    "A100-80G": GpuSpec("A100-80G", memory_bytes=81920 * MIB, hbm_bandwidth=2.039e12,
                        bf16_flops=312e12, fp8_flops=0.0, interconnect="nvlink",
                        interconnect_bandwidth=300e9, compute_capability=(8, 0)),
    # NVIDIA L40S datasheet: 48 GB GDDR6, 864 GB/s, BF16 362 TFLOPS dense (733 sparse), FP8 733
    # dense, no NVLink: PCIe Gen4 x16 (64 GB/s bidirectional), so all-reduce is slow.
    "L40S": GpuSpec("L40S", memory_bytes=46068 * MIB, hbm_bandwidth=0.864e12, bf16_flops=362e12,
                    fp8_flops=733e12, interconnect="pcie", interconnect_bandwidth=32e9, compute_capability=(8, 9),
                    interconnect_fraction=0.70, allreduce_latency_base_s=15e-6,
                    allreduce_latency_per_rank_s=8e-6),
}

_ALIASES = {
    "h100sxm": "H100", "h10080g": "H100", "h100sxm80gb": "H100", "h10080gbhbm3": "H100",
    "nvidiah10080gbhbm3": "H100", "h200sxm": "H200", "h200141g": "H200", "a100": "A100-80G",
    "a10080g": "A100-80G", "a10080gb": "A100-80G", "a100sxm80gb": "A100-80G", "l40s48g": "L40S",
}


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def resolve_gpu(name: str) -> GpuSpec:
    """The spec of a GPU by name, case- and punctuation-insensitive ("h100", "A100-80G").

    Raises KeyError naming the known GPUs.
    """
    key = _norm(name)
    for gpu_name, spec in GPUS.items():
        if _norm(gpu_name) == key:
            return spec
    if key in _ALIASES:
        return GPUS[_ALIASES[key]]
    raise KeyError(f"unknown GPU {name!r}; known GPUs: {', '.join(GPUS)}")


__all__ = ["GIB", "GPUS", "MIB", "GpuSpec", "resolve_gpu"]

"""Step-time model: how long one forward pass of a batch takes on one replica (tp GPUs).

A roofline per GPU — bytes streamed from HBM (weights + KV cache read) over the achievable
bandwidth versus FLOPs over the achievable FLOP/s, whichever is slower — plus what a roofline
leaves out:

* a fixed GPU cost per layer (small kernels never reach full bandwidth: launch, ramp, tail);
* two all-reduces per layer under tensor parallelism (latency + ring traffic over NVLink/PCIe);
* the attention kernel: a slower one (triton) reads the KV cache and does attention FLOPs at a
  fraction of FlashAttention's rate;
* CPU overhead: with CUDA graphs a decode step costs one graph launch plus sampling; without
  them (or for a batch above ``cuda_graph_max_bs``, or any prefill) every kernel is launched from
  Python and the GPU waits whenever the CPU is slower than the kernels.

>>> from autotuner.sim.memory import plan_memory
>>> from autotuner.sim.args import SimServerArgs
>>> cost = StepCost(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B")))
>>> round(cost.decode_seconds(batch=1, kv_tokens=1000) * 1e3, 1)  # ms: ~150 tok/s per user
6.8

A :class:`CostScale` stretches the model's parts apart (GPU time of decode and of prefill steps,
CPU overheads): how a real engine may differ from it. The benchmarks' hidden worlds use it::

    StepCost(plan, CostScale(decode_gpu=1.4, prefill_gpu=1.1, cpu_overhead=2.0))
"""

from __future__ import annotations

from dataclasses import dataclass

from autotuner.sim.memory import MemoryPlan

KERNEL_FIXED_S_PER_LAYER = 25e-6  # ~10 kernels per layer at ~2.5 us of launch/ramp/tail each
GRAPH_STEP_OVERHEAD_S = 0.35e-3  # graph replay + sampling + the scheduler work overlap cannot hide
EAGER_STEP_OVERHEAD_S = 1.5e-3  # Python forward setup, metadata, sampling without graphs
KERNELS_PER_LAYER_EAGER = 14
KERNEL_LAUNCH_S = 10e-6  # PyTorch op dispatch + cudaLaunchKernel, per kernel
EAGER_OVERLAP_P = 3.0  # CPU launch and GPU execution overlap imperfectly: p-norm of the two
PER_REQUEST_DECODE_S = 2e-6  # batch metadata per running request
PREFILL_STEP_OVERHEAD_S = 1.0e-3
PER_REQUEST_PREFILL_S = 30e-6  # radix-cache match, token slot allocation, per request in the batch
ACTIVATION_BYTES_PER_TOKEN_LAYER = 16  # x hidden: residual/norm reads and writes between kernels
# Attention kernels relative to FlashAttention 3 / FlashInfer: (fraction of their KV read rate,
# fraction of their attention FLOP rate). Triton, which SGLang falls back to for an fp8_e5m2 KV
# cache on Hopper: 230 vs 392 TFLOPS for FA3 on an H100 SXM at 1k context (Dao-AILab/flash-attention
# issue 1777) gives 0.59 for prefill; decode is memory-bound and SGLang's own comparison on Llama-3-8B
# shows triton within 1% of FA3 in bf16 (sgl-project/sglang PR 5211); an fp8 cache is upcast inside
# the Triton kernel, which we assume costs 10% of its read rate (an assumption, not a measurement).
ATTENTION_EFFICIENCY = {"triton": (0.90, 0.59)}


@dataclass(frozen=True)
class CostScale:
    """Factors on the parts of the step-time model (1.0 each: the model as it is)."""

    decode_gpu: float = 1.0  # GPU time of a decode step
    prefill_gpu: float = 1.0  # GPU time of a prefill step
    cpu_overhead: float = 1.0  # per-step and per-request CPU work, kernel launches included

    def __post_init__(self) -> None:
        if min(self.decode_gpu, self.prefill_gpu, self.cpu_overhead) <= 0:
            raise ValueError(f"cost factors must be > 0, got {self}")


class StepCost:
    """Noise-free duration of forward passes for one replica described by a :class:`MemoryPlan`."""

    def __init__(self, plan: MemoryPlan, scale: CostScale = CostScale()):
        a, gpu, m = plan.args, plan.gpu, plan.model
        tp = a.tp_size
        self.tp = tp
        self.bandwidth = gpu.achievable_bandwidth_tp(tp)
        # fp8 tensor cores are not used for bf16 weights; fp8 KV only shrinks bytes.
        self.flops = gpu.achievable_flops
        self.weight_read_bytes = m.decode_read_bytes_per_gpu(tp)
        kv_rate, attn_rate = ATTENTION_EFFICIENCY.get(a.attention_backend or "", (1.0, 1.0))
        self.kv_bytes_per_token = plan.kv_bytes_per_token / kv_rate  # as if read at full rate
        self.linear_flops_per_token = 2.0 * m.linear_params_per_gpu(tp)
        self.lm_head_flops_per_row = 2.0 * m.hidden_size * m.vocab_size / tp
        # QK^T and PV: 2 matmuls x 2 FLOPs per MAC x this GPU's query dims, per attended token.
        self.attn_flops_per_ctx = 4.0 * m.num_layers * m.q_dim / tp / attn_rate
        self.act_bytes_per_token = ACTIVATION_BYTES_PER_TOKEN_LAYER * m.hidden_size * m.num_layers
        self.layers = m.num_layers
        self.hidden = m.hidden_size
        self.gpu = gpu
        self.fixed_gpu_s = KERNEL_FIXED_S_PER_LAYER * m.num_layers
        self.graph_max_bs = plan.cuda_graph_max_bs  # 0: graphs disabled
        self.decode_gpu = scale.decode_gpu
        self.prefill_gpu = scale.prefill_gpu
        cpu = scale.cpu_overhead
        self.eager_cpu_s = KERNELS_PER_LAYER_EAGER * KERNEL_LAUNCH_S * m.num_layers * cpu
        self.graph_step_s = GRAPH_STEP_OVERHEAD_S * cpu
        self.eager_step_s = EAGER_STEP_OVERHEAD_S * cpu
        self.prefill_step_s = PREFILL_STEP_OVERHEAD_S * cpu
        self.per_request_decode_s = PER_REQUEST_DECODE_S * cpu
        self.per_request_prefill_s = PER_REQUEST_PREFILL_S * cpu

    # ------------------------------------------------------------------------------------------
    def _gpu_seconds(self, tokens: int, kv_tokens: float, attn_ctx: float, logits_rows: int) -> float:
        """GPU time of one forward over ``tokens`` new tokens that read ``kv_tokens`` cached tokens
        and attend over ``attn_ctx`` (sum over tokens of their context length)."""
        bytes_moved = (self.weight_read_bytes + self.kv_bytes_per_token * kv_tokens
                       + self.act_bytes_per_token * tokens / self.tp)
        flops = (self.linear_flops_per_token * tokens + self.lm_head_flops_per_row * logits_rows
                 + self.attn_flops_per_ctx * attn_ctx)
        roof = max(bytes_moved / self.bandwidth, flops / self.flops)
        comm = 2 * self.layers * self.gpu.allreduce_seconds(tokens * self.hidden * 2, self.tp)
        return roof + self.fixed_gpu_s + comm

    def _eager(self, gpu_s: float) -> float:
        p = EAGER_OVERLAP_P
        return (gpu_s ** p + self.eager_cpu_s ** p) ** (1.0 / p)

    def uses_graph(self, batch: int) -> bool:
        return 0 < batch <= self.graph_max_bs

    def decode_seconds(self, batch: int, kv_tokens: float) -> float:
        """One decode step of ``batch`` requests whose KV caches hold ``kv_tokens`` tokens in total
        (including the token being written this step)."""
        gpu_s = self._gpu_seconds(batch, kv_tokens, kv_tokens, batch) * self.decode_gpu
        if self.uses_graph(batch):
            return gpu_s + self.graph_step_s + self.per_request_decode_s * batch
        return self._eager(gpu_s) + self.eager_step_s + self.per_request_decode_s * batch

    def prefill_seconds(self, chunks: list[tuple[int, int]], decode_batch: int = 0,
                        decode_kv_tokens: float = 0.0, logits_rows: int | None = None) -> float:
        """One prefill (extend) step: ``chunks`` are (tokens already cached, new tokens) per request;
        with mixed chunking, ``decode_batch`` running requests decode one token in the same pass.
        Prefill never runs as a CUDA graph."""
        new = sum(n for _, n in chunks)
        tokens = new + decode_batch
        kv = sum(c + n for c, n in chunks) + decode_kv_tokens
        # Causal attention: token i of a chunk sees the cached prefix plus i earlier chunk tokens.
        attn = sum(n * (c + (n + 1) / 2.0) for c, n in chunks) + decode_kv_tokens
        rows = len(chunks) + decode_batch if logits_rows is None else logits_rows
        gpu_s = self._gpu_seconds(tokens, kv, attn, rows) * self.prefill_gpu
        return (self._eager(gpu_s) + self.prefill_step_s + self.per_request_prefill_s * len(chunks)
                + self.per_request_decode_s * decode_batch)


__all__ = ["CostScale", "StepCost"]

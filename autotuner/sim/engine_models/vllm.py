"""vLLM in the simulator: its parsed flags, its defaults, its memory plan, over the same core.

What differs from SGLang (from vLLM 0.33.0's ``engine/arg_utils.py``, ``config/vllm.py``,
``config/scheduler.py``, ``v1/worker/gpu_worker.py`` and ``v1/worker/utils.py``):

* **memory**: ``--gpu-memory-utilization`` (0.92 in 0.33.0) is a share of the *whole* GPU for
  everything: weights, the activations of a profile run over ``max_num_batched_tokens`` tokens
  (and the sampler over ``max_num_seqs`` rows), the non-torch buffers, the CUDA graphs (estimated
  and counted in the budget by default since vLLM 0.21) and the KV cache, which gets what is left
  in whole blocks of ``--block-size`` tokens (16)::

      kv_pool = total * gpu_memory_utilization - weights - activations - buffers - cuda_graphs

  Start-up fails when the free memory is below the requested share, when nothing is left for the
  KV cache, or when the cache cannot hold one request of ``max_model_len`` tokens;
* **batches**: ``--max-num-seqs`` running requests and ``--max-num-batched-tokens`` tokens per
  step, decodes first and prefill chunks in the same step (the core's mixed chunking);
  defaults by GPU from the recorded table (H100, H200: 1024 and 8192 for the API server), else
  vLLM's rule for other GPUs (256 and 2048); with chunked prefill off the token budget is at
  least ``max_model_len``;
* **admission**: KV blocks are allocated as tokens arrive, nothing is reserved for the outputs to
  come; when a step finds no free block, requests are preempted and recomputed later;
* **CUDA graphs**: sizes ``[1, 2, 4] + range(8, 256, 8) + range(256, max + 1, 16)`` up to
  ``min(2 * max_num_seqs, 512)`` (or ``--max-cudagraph-capture-size``,
  ``--cudagraph-capture-sizes``); ``--enforce-eager`` captures none;
* **attention**: FlashAttention for every KV dtype (the simulator does not model a backend switch
  in vLLM);
* **prefix caching** (on by default, ``--no-enable-prefix-caching`` turns it off): full
  ``block_size``-token blocks under chained hashes (:class:`~autotuner.sim.prefix_cache.BlockHashCache`).

>>> default_capture_sizes(max_num_seqs=4, max_num_batched_tokens=8192)
(1, 2, 4, 8)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from autotuner.flavors.option_table import load_table, table_default
from autotuner.facts.gpus import GpuSpec
from autotuner.facts.models import ModelSpec
from autotuner.sim import layout
from autotuner.sim.layout import MemoryPlan, Startup, StartupFailure, gib

if TYPE_CHECKING:
    from autotuner.sim.args import SimServerArgs

ENGINE = "vllm"
DEFAULT_BLOCK_SIZE = 16  # vllm.config.cache.CacheConfig.DEFAULT_BLOCK_SIZE
MAX_DEFAULT_CAPTURE_SIZE = 512  # before Blackwell
# EngineArgs.get_batch_defaults for GPUs the table was not recorded on (vLLM's "other hardware").
OTHER_GPU_BATCH_DEFAULTS = {"max_num_seqs": 256, "max_num_batched_tokens": 2048}
USAGE_CONTEXT = "OPENAI_API_SERVER"  # `vllm serve`


def _first(value: Any) -> Any:
    """The first of a ``nargs='+'`` value (vLLM serves under the first served name)."""
    return value[0] if isinstance(value, list) and value else value


def server_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The simulator's fields from vLLM's parsed arguments (dest -> value, defaults included)."""
    chunked = values["enable_chunked_prefill"] is not False  # None: on, as in vLLM's V1 engine
    max_len = values["max_model_len"]
    return {
        "model_path": values["model_tag"] or values["model"], "tokenizer_path": values["tokenizer"],
        "served_model_name": _first(values["served_model_name"]), "host": values["host"] or "0.0.0.0",
        "port": values["port"], "api_key": _first(values["api_key"]), "enable_metrics": True,
        "tp_size": values["tensor_parallel_size"], "dp_size": values["data_parallel_size"],
        "gpu_memory_utilization": values["gpu_memory_utilization"],
        "max_running_requests": values["max_num_seqs"],
        "chunked_prefill_size": values["max_num_batched_tokens"] if chunked else -1,
        "max_prefill_tokens": values["max_num_batched_tokens"],
        "schedule_policy": "fcfs",  # "priority" orders by request priority; genai-bench sends none
        "cuda_graph_max_bs": values["max_cudagraph_capture_size"],
        "cuda_graph_bs": tuple(values["cudagraph_capture_sizes"]) if values["cudagraph_capture_sizes"] else None,
        "disable_cuda_graph": bool(values["enforce_eager"]), "kv_cache_dtype": values["kv_cache_dtype"],
        "block_size": values["block_size"], "enable_mixed_chunk": True,
        "disable_radix_cache": values["enable_prefix_caching"] is False,
        "context_length": max_len if max_len is not None and max_len > 0 else None,
    }


def batch_defaults(version: str, gpu: GpuSpec) -> dict[str, int]:
    """``max_num_seqs`` and ``max_num_batched_tokens`` vLLM picks for ``vllm serve`` on ``gpu``."""
    recorded = load_table(ENGINE, version).get("gpu_defaults", {}).get(gpu.name)
    if recorded is None:
        return dict(OTHER_GPU_BATCH_DEFAULTS)
    return {name: recorded[name][USAGE_CONTEXT] for name in ("max_num_seqs", "max_num_batched_tokens")}


def default_capture_sizes(max_num_seqs: int, max_num_batched_tokens: int, max_size: int | None = None) -> tuple[int, ...]:
    """The batch sizes vLLM captures CUDA graphs for when none are given."""
    top = max_size if max_size is not None else min(2 * max_num_seqs, MAX_DEFAULT_CAPTURE_SIZE)
    sizes = [1, 2, 4, *range(8, 256, 8), *range(256, top + 1, 16)]
    return tuple(s for s in sizes if s <= min(top, max_num_batched_tokens))


def defaults(args: SimServerArgs, gpu: GpuSpec, model: ModelSpec) -> dict[str, Any]:
    """vLLM's defaults for the fields ``args`` leaves at None."""
    max_model_len = int(args.context_length or model.max_context)
    batch = batch_defaults(args.engine_version, gpu)
    seqs = args.max_running_requests or batch["max_num_seqs"]
    tokens = args.max_prefill_tokens
    if tokens is None:
        tokens = batch["max_num_batched_tokens"]
        if args.chunked_prefill_size == -1:
            tokens = max(tokens, max_model_len)
    sizes = args.cuda_graph_bs or default_capture_sizes(seqs, tokens, args.cuda_graph_max_bs)
    return {"max_running_requests": seqs, "max_prefill_tokens": tokens,
            "chunked_prefill_size": -1 if args.chunked_prefill_size == -1 else tokens,
            "cuda_graph_bs": sizes, "cuda_graph_max_bs": max(sizes, default=0),
            "gpu_memory_utilization": (table_default(ENGINE, args.engine_version, "gpu_memory_utilization")
                                       if args.gpu_memory_utilization is None else args.gpu_memory_utilization),
            "block_size": args.block_size or DEFAULT_BLOCK_SIZE, "attention_backend": "flash_attn",
            "kv_reservation": False, "prefix_cache": "block_hash"}


def check(args: SimServerArgs, gpu: GpuSpec, model: ModelSpec) -> None:
    """vLLM's config checks, in the order ``create_engine_config`` meets them, before anything
    starts: ``ParallelConfig`` (the world size fits the node), ``SchedulerConfig.verify_max_model_len``,
    ``ModelConfig.verify_with_parallel_config`` (tp divides the attention heads)."""
    world = args.tp_size  # pipeline parallel size 1; dp replicas are engines of their own
    if world > gpu.gpus_per_node:
        raise StartupFailure(
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for ParallelConfig\n"
            f"  Value error, World size ({world}) is larger than the number of available GPUs "
            f"({gpu.gpus_per_node}) in this node. If this is intentional and you are using:\n"
            "- ray, set '--distributed-executor-backend ray'.\n"
            "- multiprocessing, set '--nnodes' appropriately.")
    max_model_len = int(args.context_length or model.max_context)
    tokens, seqs = int(args.max_prefill_tokens), int(args.max_running_requests)
    if tokens < max_model_len and not args.chunked_prefill_enabled:
        raise StartupFailure(
            f"ValueError: max_num_batched_tokens ({tokens}) is smaller than max_model_len ({max_model_len}). "
            "This effectively limits the maximum sequence length to max_num_batched_tokens and makes vLLM "
            "reject longer sequences. Please increase max_num_batched_tokens or decrease max_model_len.")
    if tokens < seqs:
        raise StartupFailure(f"ValueError: max_num_batched_tokens ({tokens}) must be greater than or equal to "
                             f"max_num_seqs ({seqs}).")
    if model.num_attention_heads % args.tp_size:
        raise StartupFailure(f"ValueError: Total number of attention heads ({model.num_attention_heads}) must be "
                             f"divisible by tensor parallel size ({args.tp_size}).")


def plan(start: Startup) -> MemoryPlan:
    """Lay out one GPU like vLLM; raise :class:`StartupFailure` where vLLM would fail."""
    args, gpu, model = start.args, start.gpu, start.model
    max_model_len = int(args.context_length or model.max_context)
    tp, seqs = args.tp_size, int(args.max_running_requests)
    requested = math.ceil(gpu.memory_bytes * float(args.gpu_memory_utilization))
    if start.free_bytes < requested:
        raise StartupFailure(
            f"ValueError: Free memory on device cuda:0 ({gib(start.free_bytes)}/{gib(gpu.memory_bytes)}) on "
            f"startup is less than desired GPU memory utilization ({args.gpu_memory_utilization}, "
            f"{gib(requested)}). Decrease GPU memory utilization or reduce GPU memory used by other processes.",
            1, phase="kv_cache", after_s=start.init_s)
    tokens = int(args.max_prefill_tokens)
    # The profile run: a forward over the token budget and the sampler over max_num_seqs fp32 rows.
    acts = layout.activation_bytes(model, tp, tokens) + seqs * model.vocab_size * 4
    reserve = layout.runtime_reserve_bytes(tp)
    sizes, graphs, graph_s = layout.captured_graphs(start, seqs)
    kv_pool = requested - start.weight_bytes - acts - reserve - graphs
    if kv_pool <= 0:
        raise StartupFailure(
            "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` "
            "when initializing the engine.", 1, phase="kv_cache", after_s=start.after_load_s)
    block = int(args.block_size)
    kv_tokens = kv_pool // (start.kv_bytes_per_token * block) * block
    if max_model_len > kv_tokens:
        raise StartupFailure(
            f"ValueError: To serve at least one request with the model's max seq len ({max_model_len}), "
            f"({gib(max_model_len * start.kv_bytes_per_token)} KV cache is needed, which is larger than the "
            f"available KV cache memory ({gib(kv_pool)}). Based on the available memory, the estimated maximum "
            f"model length is {kv_tokens}. Try increasing `gpu_memory_utilization` or decreasing "
            "`max_model_len` when initializing the engine.", 1, phase="kv_cache", after_s=start.after_load_s)
    return MemoryPlan(
        args=args, gpu=gpu, model=model, free_bytes=start.free_bytes, weight_bytes=start.weight_bytes,
        static_bytes=requested, kv_pool_bytes=kv_pool, kv_bytes_per_token=start.kv_bytes_per_token,
        kv_tokens=int(kv_tokens), max_num_reqs=seqs, max_running_requests=seqs, req_to_token_bytes=0,
        runtime_reserve_bytes=reserve, cuda_graph_bytes=graphs, activation_bytes=acts,
        headroom_bytes=start.free_bytes - requested, capture_batch_sizes=sizes,
        cuda_graph_max_bs=max(sizes, default=0), prefill_tokens_per_batch=tokens,
        init_s=start.init_s, load_s=start.load_s, cuda_graph_s=graph_s, warmup_s=layout.WARMUP_S, notes=start.notes,
    )


__all__ = ["ENGINE", "batch_defaults", "check", "default_capture_sizes", "defaults", "plan", "server_fields"]

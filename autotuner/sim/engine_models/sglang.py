"""SGLang in the simulator: its parsed flags, its GPU-dependent defaults, its memory layout.

Defaults follow SGLang's own resolution (``sglang/srt/arg_groups/memory_hook.py``,
``cuda_graph_hook.py`` and ``overrides.py`` in 0.5.19 and 0.5.23), checked against the
``gpu_defaults`` recorded in the option tables (tests/sim/test_sim_args.py):

* chunked prefill and the largest captured decode batch by GPU memory (8192 and 256, or 512 from
  tp 4, on an H100 or H200); since 0.5.23 the decode batch is capped at --max-running-requests;
* ``mem_fraction_static = (memory - reserved) / memory`` with reserved = 512 MiB + 1.5 MiB per
  token of the largest prefill + 1024 MiB x tp / 8 + 2 MiB per decode batch slot + 8 MiB per
  captured prefill graph, at least 10 GiB on GPUs above 60 GiB;
* the attention backend: FA3 on Hopper, FlashInfer before; a KV cache in fp8_e5m2 makes SGLang
  switch FA3 to triton (FA3 only reads fp8_e4m3).

The layout: SGLang measures the free memory, loads the weights, and gives the KV pool whatever is
left inside ``mem_fraction_static`` of that memory::

    kv_pool = free * mem_fraction_static - weights          (per GPU)

Everything else must fit in ``free * (1 - mem_fraction_static)``: the request-to-token table,
workspaces and NCCL buffers, the CUDA graph memory pool (grows with the decode batch) and the
activations of the largest prefill batch. When something does not fit, start-up fails with the
error SGLang prints.

>>> from autotuner.facts.gpus import GPUS
>>> default_mem_fraction_static(GPUS["H100"], tp=1, chunk=8192, max_prefill=16384, decode_max_bs=256)
0.83
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autotuner.facts.gpus import MIB, GpuSpec
from autotuner.facts.models import ModelSpec
from autotuner.flavors.option_table import table_default
from autotuner.sim.layout import (
    WARMUP_S,
    MemoryPlan,
    Startup,
    StartupFailure,
    activation_bytes,
    captured_graphs,
    gib,
    runtime_reserve_bytes,
)

if TYPE_CHECKING:
    from autotuner.sim.args import SimServerArgs

ENGINE = "sglang"
# Since this release a default decode graph batch is capped at --max-running-requests.
CAPS_GRAPHS_AT_RUNNING_SINCE = (0, 5, 23)
FA3_FP8_E5M2_WARNING = ("FlashAttention3 only supports fp8_e4m3 if using FP8; "
                        "Setting attention backend to triton.")


def server_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The simulator's fields from SGLang's parsed arguments (dest -> value, defaults included)."""
    no_graphs = bool(values["disable_cuda_graph"])
    return {
        "model_path": values["model_path"], "tokenizer_path": values["tokenizer_path"],
        "served_model_name": values["served_model_name"], "host": values["host"], "port": values["port"],
        "api_key": values["api_key"], "enable_metrics": values["enable_metrics"],
        "tp_size": values["tp_size"], "dp_size": values["dp_size"],
        "mem_fraction_static": values["mem_fraction_static"],
        "max_running_requests": values["max_running_requests"],
        "chunked_prefill_size": values["chunked_prefill_size"], "max_prefill_tokens": values["max_prefill_tokens"],
        "schedule_policy": values["schedule_policy"],
        "schedule_conservativeness": values["schedule_conservativeness"],
        "cuda_graph_max_bs": values["cuda_graph_max_bs_decode"],
        "cuda_graph_bs": tuple(values["cuda_graph_bs_decode"]) if values["cuda_graph_bs_decode"] else None,
        "disable_cuda_graph": no_graphs or values["disable_decode_cuda_graph"]
        or values["cuda_graph_backend_decode"] == "disabled",
        "prefill_cuda_graph": not (no_graphs or values["disable_prefill_cuda_graph"]
                                   or values["cuda_graph_backend_prefill"] == "disabled"),
        "kv_cache_dtype": values["kv_cache_dtype"], "enable_mixed_chunk": values["enable_mixed_chunk"],
        "disable_radix_cache": values["disable_radix_cache"], "context_length": values["context_length"],
        "attention_backend": values["attention_backend"],
    }


def decode_batch_sizes(max_bs: int) -> tuple[int, ...]:
    """Decode batch sizes SGLang captures up to ``max_bs`` (which is always included)."""
    sizes = [1, 2, 4, 8, 12, *range(16, 257, 8), *range(272, 512, 16), *range(512, max_bs + 1, 32)]
    sizes = [s for s in sizes if s <= max_bs]
    return tuple(sizes if max_bs in sizes else [*sizes, max_bs])


def prefill_batch_sizes(max_tokens: int) -> tuple[int, ...]:
    """Token counts SGLang captures prefill graphs for (none when chunked prefill is off)."""
    sizes = [*range(4, 33, 4), *range(48, 257, 16), *range(288, 513, 32), *range(576, 1025, 64),
             *range(1280, 4097, 256), *range(4608, max_tokens + 1, 512)]
    return tuple(s for s in sizes if s <= max_tokens)


def _memory_mib(gpu: GpuSpec) -> float:
    return gpu.memory_bytes / MIB  # what SGLang reads from nvidia-smi


def default_chunked_prefill_size(gpu: GpuSpec) -> int:
    mib = _memory_mib(gpu)
    return 2048 if mib < 35 * 1024 else 4096 if mib < 60 * 1024 else 8192 if mib < 160 * 1024 else 16384


def default_decode_max_bs(gpu: GpuSpec, tp: int) -> int:
    mib = _memory_mib(gpu)
    if mib < 20 * 1024:
        return 8
    if mib < 35 * 1024:
        return 24 if tp < 4 else 80
    if mib < 60 * 1024:
        return 32 if tp < 4 else 160
    return 256 if tp < 4 and mib < 160 * 1024 else 512


def default_mem_fraction_static(gpu: GpuSpec, *, tp: int, chunk: int, max_prefill: int, decode_max_bs: int,
                                prefill_graphs: bool = True) -> float:
    """SGLang's computed default (may be 0 or negative: SGLang then fails to start)."""
    mib = _memory_mib(gpu)
    reserved = 512 + max(chunk if chunk > 0 else max_prefill, 2048) * 1.5 + tp / 8 * 1024
    reserved += decode_max_bs * 2
    if prefill_graphs and chunk > 0:
        reserved += len(prefill_batch_sizes(chunk)) * 8
    if mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return round((mib - reserved) / mib, 3)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def defaults(args: SimServerArgs, gpu: GpuSpec, model: ModelSpec) -> dict[str, Any]:
    """SGLang's GPU-dependent defaults for the fields ``args`` leaves at None (``model`` unused:
    SGLang's defaults do not depend on it)."""
    chunk = args.chunked_prefill_size if args.chunked_prefill_size is not None else default_chunked_prefill_size(gpu)
    max_prefill = args.max_prefill_tokens or table_default(ENGINE, args.engine_version, "max_prefill_tokens")
    max_bs = args.cuda_graph_max_bs
    if args.cuda_graph_bs:
        max_bs = max(args.cuda_graph_bs)
    elif max_bs is None:
        max_bs = default_decode_max_bs(gpu, args.tp_size)
        if (args.max_running_requests is not None and _version(args.engine_version) >= CAPS_GRAPHS_AT_RUNNING_SINCE):
            max_bs = min(max_bs, args.max_running_requests)
    fraction = args.mem_fraction_static
    if fraction is None:
        fraction = default_mem_fraction_static(
            gpu, tp=args.tp_size, chunk=chunk, max_prefill=max_prefill,
            decode_max_bs=0 if args.disable_cuda_graph else max_bs, prefill_graphs=args.prefill_cuda_graph)
    backend = args.attention_backend or ("fa3" if gpu.hopper else "flashinfer")
    if backend == "fa3" and args.kv_cache_dtype == "fp8_e5m2":
        backend = "triton"
    return {"chunked_prefill_size": chunk, "max_prefill_tokens": max_prefill, "cuda_graph_max_bs": max_bs,
            "cuda_graph_bs": args.cuda_graph_bs or decode_batch_sizes(max_bs), "mem_fraction_static": fraction,
            "attention_backend": backend, "block_size": 1, "kv_reservation": True, "prefix_cache": "radix"}


def check(args: SimServerArgs, gpu: GpuSpec, model: ModelSpec) -> None:
    """SGLang's argument checks that the parser leaves to ``check_server_args`` (before anything starts)."""
    name = args.served_model_name or ""
    if ":" in name:
        raise StartupFailure(
            "AssertionError: served_model_name cannot contain a colon (':') character. The colon is reserved "
            f"for the 'model:adapter' syntax used in LoRA adapter specification. Invalid value: {name!r}")
    if not 0.0 < float(args.mem_fraction_static or 0.0) < 1.0:
        raise StartupFailure(f"ValueError: mem_fraction_static must be in (0, 1), got {args.mem_fraction_static} "
                             "(SGLang's computed default goes negative when the prefill chunk is too large "
                             "for the GPU)")


def plan(start: Startup) -> MemoryPlan:
    """Lay out one GPU like SGLang; raise :class:`StartupFailure` where SGLang would fail."""
    args, gpu, model = start.args, start.gpu, start.model
    notes = list(start.notes)
    if args.attention_backend == "triton" and args.kv_cache_dtype == "fp8_e5m2" and gpu.hopper:
        notes.append(f"attention backend triton, not fa3: {FA3_FP8_E5M2_WARNING}")
    free, weights, tp = start.free_bytes, start.weight_bytes, args.tp_size
    static = int(free * float(args.mem_fraction_static))
    kv_pool = static - weights
    kv_tokens = max(0, kv_pool) // start.kv_bytes_per_token
    after_load = start.after_load_s
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
        max_num_reqs = max_running = args.max_running_requests
    max_running = max(1, max_running)
    req_to_token = (max_num_reqs + 1) * context_len * 4  # int32 token slots per request row
    reserve = runtime_reserve_bytes(tp)
    rest = free - static
    used = req_to_token + reserve
    if used > rest:
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {gib(req_to_token)} for the "
            f"req_to_token pool ({max_num_reqs} requests x {context_len} tokens). Only {gib(rest - reserve)} "
            "is left outside --mem-fraction-static; decrease --mem-fraction-static, "
            "--max-running-requests or --context-length.",
            1, phase="kv_cache", after_s=after_load)

    # --- CUDA graphs: the captured sizes a running batch can reach -----------------------------------
    sizes, graphs, graph_s = captured_graphs(start, max_running)
    if used + graphs > rest:
        # SGLang's own text from cuda_graph_runner.py, after the torch error.
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory during CUDA graph capture (needs {gib(graphs)}, "
            f"{gib(max(0, rest - used))} free).\n"
            "Exception: Capture cuda graph failed: CUDA out of memory\n"
            "Possible solutions:\n"
            "1. set --mem-fraction-static to a smaller value (e.g., 0.8 or 0.7)\n"
            "2. set --cuda-graph-max-bs to a smaller value (e.g., 16)\n"
            "3. disable torch compile by not using --enable-torch-compile\n"
            "4. disable CUDA graph by --disable-cuda-graph. (Not recommended. Huge performance loss)",
            1, phase="cuda_graph", after_s=after_load + graph_s * 0.5)
    used += graphs

    # --- activations of the largest prefill batch --------------------------------------------------
    prefill_tokens = (min(int(args.chunked_prefill_size), args.max_prefill_tokens)
                      if args.chunked_prefill_enabled else args.max_prefill_tokens)
    acts = activation_bytes(model, tp, prefill_tokens)
    if used + acts > rest:
        # Real SGLang starts and then dies at the first such batch; the simulator checks it up
        # front so the tuner sees a start-up failure instead of a crash in the middle of a benchmark.
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {gib(acts)} for the "
            f"activations of a {prefill_tokens}-token prefill batch. GPU 0 has a total capacity of "
            f"{gib(gpu.memory_bytes)} of which {gib(max(0, rest - used))} is free. (simulator: the "
            "largest prefill batch, min(--chunked-prefill-size, --max-prefill-tokens), must fit outside "
            "--mem-fraction-static; decrease one of them or --mem-fraction-static)",
            1, phase="activations", after_s=after_load + graph_s)
    used += acts

    return MemoryPlan(
        args=args, gpu=gpu, model=model, free_bytes=free, weight_bytes=weights, static_bytes=static,
        kv_pool_bytes=kv_pool, kv_bytes_per_token=start.kv_bytes_per_token, kv_tokens=int(kv_tokens),
        max_num_reqs=max_num_reqs, max_running_requests=max_running, req_to_token_bytes=req_to_token,
        runtime_reserve_bytes=reserve, cuda_graph_bytes=graphs, activation_bytes=acts,
        headroom_bytes=rest - used, capture_batch_sizes=sizes,
        cuda_graph_max_bs=max(sizes) if sizes else 0, prefill_tokens_per_batch=prefill_tokens,
        init_s=start.init_s, load_s=start.load_s, cuda_graph_s=graph_s, warmup_s=WARMUP_S, notes=tuple(notes),
    )


__all__ = ["ENGINE", "check", "decode_batch_sizes", "default_chunked_prefill_size", "default_decode_max_bs",
           "default_mem_fraction_static", "defaults", "plan", "prefill_batch_sizes", "server_fields"]

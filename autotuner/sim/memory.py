"""Start-up memory plan of the simulated engine, and the start-up time it takes.

Both engines first check their arguments as the engine does before anything starts (each engine
module's ``check``: SGLang's ``check_server_args``, vLLM's config checks), then the layout (tp*dp
GPUs on the node, tp dividing the attention heads, the fit rules of :mod:`autotuner.facts.fit`) and
load the weights; then each lays out the KV cache
its own way (:mod:`autotuner.sim.engine_models.sglang`, :mod:`autotuner.sim.engine_models.vllm`). Where the
engine would fail to start, :class:`StartupFailure` carries its error.

>>> from autotuner.sim.args import SimServerArgs
>>> plan = plan_memory(SimServerArgs(sim_model="Llama-3.1-8B"))
>>> plan.kv_tokens > 400_000, plan.max_running_requests
(True, 2048)
>>> plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", mem_fraction_static=0.15))  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
...
autotuner.sim.layout.StartupFailure: RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.
"""

from __future__ import annotations

import math

from autotuner.facts.fit import divides_heads, fits_node, weights_fit
from autotuner.facts.gpus import GpuSpec, resolve_gpu
from autotuner.facts.models import ModelSpec, resolve_model
from autotuner.sim.args import SimServerArgs
from autotuner.sim.engine_models import ENGINE_MODELS
from autotuner.sim.layout import (
    INIT_BASE_S,
    INIT_PER_TP_DOUBLING_S,
    WEIGHT_LOAD_BYTES_PER_S,
    MemoryPlan,
    Startup,
    StartupFailure,
    gib,
    startup_seconds,
)


def load_weights(args: SimServerArgs, gpu: GpuSpec, model: ModelSpec) -> Startup:
    """The checks both engines make before touching the GPUs, then the weight load; raise
    :class:`StartupFailure` with the engine's error where one fails."""
    tp, dp = args.tp_size, args.dp_size
    if not fits_node(tp, dp, gpu.gpus_per_node):
        raise StartupFailure(
            f"RuntimeError: tp_size * dp_size = {tp * dp} GPUs requested, but the (simulated) node has "
            f"{gpu.gpus_per_node} GPUs.", 1, phase="args")
    if not divides_heads(model.num_attention_heads, tp):
        raise StartupFailure(
            f"AssertionError: Total number of attention heads ({model.num_attention_heads}) must be "
            f"divisible by tensor parallel size ({tp}).", 1, phase="args")
    if model.num_kv_heads % tp and tp % model.num_kv_heads:
        raise StartupFailure(
            f"AssertionError: Number of KV heads ({model.num_kv_heads}) and tensor parallel size ({tp}) "
            "must divide one another.", 1, phase="args")
    notes: tuple[str, ...] = ()
    if args.kv_cache_dtype.startswith("fp8") and not gpu.supports_fp8:
        notes = (f"{gpu.name} has no FP8 tensor cores: fp8 KV is stored as fp8 and upcast in kernels",)

    init_s = INIT_BASE_S + INIT_PER_TP_DOUBLING_S * math.log2(tp)
    load_s = model.computed_params * 2 / WEIGHT_LOAD_BYTES_PER_S
    free = gpu.memory_bytes - gpu.context_bytes
    weights = model.weight_bytes_per_gpu(tp)
    if not weights_fit(weights, free):
        raise StartupFailure(
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {gib(weights - free)} while "
            f"loading weights. GPU 0 has a total capacity of {gib(gpu.memory_bytes)} of which "
            f"{gib(free)} is free ({model.name} needs {gib(weights)} per GPU at tensor parallel size {tp}).",
            1, phase="load", after_s=init_s + load_s * free / weights)
    return Startup(args=args, gpu=gpu, model=model, free_bytes=free, weight_bytes=weights,
                   kv_bytes_per_token=model.kv_bytes_per_token(tp, args.kv_dtype_bytes),
                   init_s=init_s, load_s=load_s, notes=notes)


def plan_memory(args: SimServerArgs, gpu: GpuSpec | None = None, model: ModelSpec | None = None) -> MemoryPlan:
    """Lay out memory like the engine; raise :class:`StartupFailure` where it would fail."""
    try:
        args.validate()
        args = args.resolved()
    except (ValueError, KeyError) as exc:
        raise StartupFailure(f"ValueError: {exc.args[0]}", 1, phase="args") from None
    gpu = gpu or resolve_gpu(args.sim_gpu)
    model = model or resolve_model(args.model_name())
    engine_model = ENGINE_MODELS.get(args.engine)
    engine_model.check(args, gpu, model)
    return engine_model.plan(load_weights(args, gpu, model))


__all__ = ["MemoryPlan", "StartupFailure", "load_weights", "plan_memory", "startup_seconds"]

"""Rules that reject a config before any GPU is claimed or any engine deployed.

>>> reject_reason({"tp_size": 4, "dp_size": 4}, gpus_per_node=8, slots=8)
'tp_size*dp_size=16 exceeds the 8 GPUs of a node'
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping

from autotuner.engines.sglang_args import gpus_needed
from autotuner.facts.fit import divides_heads, size_facts, weight_bytes_per_gpu, weights_fit
from autotuner.spec import TaskSpec


def model_facts(spec: TaskSpec) -> dict[str, Any]:
    """Size facts used by the pre-deployment checks (from the spec, else the fact tables)."""
    facts = size_facts(spec.model.name, spec.engine.gpu, num_attention_heads=spec.model.num_attention_heads,
                       params_billion=spec.model.params_billion)
    return asdict(facts)


def reject_reason(
    engine_args: Mapping[str, Any],
    *,
    gpus_per_node: int,
    slots: int,
    num_attention_heads: int | None = None,
    params_billion: float | None = None,
    gpu_memory_gb: float | None = None,
) -> str | None:
    """Why this config cannot run at all, or None. Cheap checks only; the engine finds the rest."""
    gpus = gpus_needed(engine_args)
    if gpus > gpus_per_node:
        return f"tp_size*dp_size={gpus} exceeds the {gpus_per_node} GPUs of a node"
    if gpus > slots:
        return f"tp_size*dp_size={gpus} exceeds the campaign's {slots} GPU slots"
    tp = int(engine_args.get("tp_size", 1))
    if not divides_heads(num_attention_heads, tp):
        return f"tp_size={tp} does not divide the model's {num_attention_heads} attention heads"
    if params_billion and gpu_memory_gb:
        frac = float(engine_args.get("mem_fraction_static", 0.9))
        per_gpu_gb = weight_bytes_per_gpu(params_billion, tp)  # GB: params in billions
        if not weights_fit(per_gpu_gb, gpu_memory_gb, frac):
            return (f"weights need {per_gpu_gb:.1f} GB per GPU at tp_size={tp}, more than "
                    f"mem_fraction_static={frac} x {gpu_memory_gb:g} GB")
    return None


def trial_gpus(engine_args: Mapping[str, Any], *, gpus_per_node: int, slots: int) -> int:
    """GPU slots a trial claims: tp*dp, or 0 for a config that will be rejected (so it does not
    wait forever for more GPUs than exist)."""
    gpus = gpus_needed(engine_args)
    return gpus if gpus <= min(gpus_per_node, slots) else 0

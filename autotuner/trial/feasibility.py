"""Rules that reject a config before any GPU is claimed or any engine deployed.

>>> from autotuner.flavors import FLAVORS
>>> reject_reason({"tp_size": 4, "dp_size": 4}, flavor=FLAVORS.get("sglang"), gpus_per_node=8, slots=8)
'tp_size*dp_size=16 exceeds the 8 GPUs of a node'
"""

from __future__ import annotations

from typing import Any, Mapping

from autotuner.flavors import EngineFlavor
from autotuner.facts.fit import divides_heads, size_facts, weight_bytes_per_gpu, weights_fit
from autotuner.task.spec import TaskSpec


def model_facts(spec: TaskSpec) -> dict[str, Any]:
    """The engine (flavor, version, GPU) and size facts the pre-deployment checks use (sizes from
    the spec, else the fact tables)."""
    facts = size_facts(spec.model.name, spec.engine.gpu, num_attention_heads=spec.model.num_attention_heads,
                       params_billion=spec.model.params_billion)
    return {"flavor": spec.engine.engine_flavor, "version": spec.engine.version, "gpu": spec.engine.gpu,
            "num_attention_heads": facts.num_attention_heads, "params_billion": facts.params_billion,
            "gpu_memory_gb": facts.gpu_memory_gb}


def reject_reason(
    engine_args: Mapping[str, Any],
    *,
    flavor: EngineFlavor,
    gpus_per_node: int,
    slots: int,
    version: str | None = None,
    gpu: str | None = None,
    num_attention_heads: int | None = None,
    params_billion: float | None = None,
    gpu_memory_gb: float | None = None,
) -> str | None:
    """Why this config cannot run at all, or None. Cheap checks only; the engine finds the rest.
    ``version`` and ``gpu``: also the flavor's own start-up rules for that version on that GPU."""
    gpus = flavor.gpus_needed(engine_args)
    tp_name, parallel = flavor.tp_param, f"{flavor.tp_param}*{flavor.dp_param}"
    if gpus > gpus_per_node:
        return f"{parallel}={gpus} exceeds the {gpus_per_node} GPUs of a node"
    if gpus > slots:
        return f"{parallel}={gpus} exceeds the campaign's {slots} GPU slots"
    tp = int(engine_args.get(tp_name, 1))
    if not divides_heads(num_attention_heads, tp):
        return f"{tp_name}={tp} does not divide the model's {num_attention_heads} attention heads"
    if params_billion and gpu_memory_gb:
        frac = float(engine_args.get(flavor.memory_param, 0.9))
        per_gpu_gb = weight_bytes_per_gpu(params_billion, tp)  # GB: params in billions
        if not weights_fit(per_gpu_gb, gpu_memory_gb, frac):
            return (f"weights need {per_gpu_gb:.1f} GB per GPU at {tp_name}={tp}, more than "
                    f"{flavor.memory_param}={frac} x {gpu_memory_gb:g} GB")
    if version and gpu:
        problems = flavor.config_problems(engine_args, version, gpu)
        if problems:
            return problems[0][1]
    return None


def trial_gpus(engine_args: Mapping[str, Any], *, flavor: EngineFlavor, gpus_per_node: int, slots: int) -> int:
    """GPU slots a trial claims: tp*dp, or 0 for a config that will be rejected (so it does not
    wait forever for more GPUs than exist)."""
    gpus = flavor.gpus_needed(engine_args)
    return gpus if gpus <= min(gpus_per_node, slots) else 0

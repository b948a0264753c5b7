"""How the simulator models each engine it speaks: one module each (its flags, defaults and memory
layout), over one engine core. A module provides ``ENGINE``, ``server_fields(values)``,
``defaults(...)``, ``check(args, gpu, model)`` (what the engine refuses before it starts) and
``plan(startup)``; add it to :data:`ENGINE_MODELS`.

>>> ENGINE_MODELS.get("vllm").ENGINE
'vllm'
"""

from __future__ import annotations

from types import ModuleType

from autotuner.plugins.registry import Registry

ENGINE_MODELS: Registry[ModuleType] = Registry("--sim-engine", {
    "sglang": "autotuner.sim.engine_models.sglang",
    "vllm": "autotuner.sim.engine_models.vllm",
})

__all__ = ["ENGINE_MODELS"]

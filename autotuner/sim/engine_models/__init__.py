"""The engines the simulator speaks: one module each (its flags, defaults and memory layout), over
one engine core. A module provides ``ENGINE``, ``server_fields(values)``, ``defaults(...)``,
``check(args, gpu, model)`` (what the engine refuses before it starts) and ``plan(startup)``; add it
to :data:`SIM_FLAVORS`."""

from __future__ import annotations

from types import ModuleType

from autotuner.sim.engine_models import sglang, vllm

SIM_FLAVORS: dict[str, ModuleType] = {sglang.ENGINE: sglang, vllm.ENGINE: vllm}


def sim_flavor(engine: str) -> ModuleType:
    """The simulator's module for ``engine``; ValueError naming the engines it speaks."""
    try:
        return SIM_FLAVORS[engine]
    except KeyError:
        raise ValueError(f"the simulator speaks {', '.join(SIM_FLAVORS)}, not {engine!r}") from None


__all__ = ["SIM_FLAVORS", "sim_flavor"]

"""The engine flavors the tuner knows: one module each, one line here.

>>> FLAVORS.get("vllm").launch_command("/m", {"tensor_parallel_size": 2}, "0.33.0", port=8000)[:3]
['vllm', 'serve', '/m']
"""

from __future__ import annotations

from autotuner.flavors.base import EngineFlavor, EngineParam
from autotuner.plugins.registry import Registry

FLAVORS: Registry[EngineFlavor] = Registry("engine.flavor", {
    "sglang": "autotuner.flavors.sglang:FLAVOR",
    "vllm": "autotuner.flavors.vllm:FLAVOR",
})
DEFAULT_FLAVOR = "sglang"


def all_param_names() -> frozenset[str]:
    """Every tunable parameter name of every flavor (to pick engine parameters out of a Tune config)."""
    return frozenset(p.name for flavor in FLAVORS.loaded() for p in flavor.catalogue)


def short_names() -> dict[str, str]:
    """A short label per parameter name, for one-line config summaries (``tp=1 mem=0.85``)."""
    return {p.name: p.short or p.name for flavor in FLAVORS.loaded() for p in flavor.catalogue}


__all__ = ["DEFAULT_FLAVOR", "EngineFlavor", "EngineParam", "FLAVORS", "all_param_names", "short_names"]

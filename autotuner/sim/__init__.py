"""A physically grounded SIMULATOR of an SGLang or vLLM server (it never pretends to be the engine).

Two clocks, one core:

* ``python -m autotuner.sim.server --sim-engine sglang --sim-gpu H100 --sim-model Llama-3.1-8B
  -- <sglang server flags>`` is a wall-clock OpenAI-compatible HTTP server that genai-bench loads
  for real (``--sim-engine vllm -- <vllm serve arguments>`` speaks vLLM);
* :func:`evaluate_level` / :func:`evaluate_config` predict genai-bench's numbers in virtual time,
  in milliseconds per level, for ground-truth studies of the tuner.

Both drive :class:`EngineCore` (continuous batching, chunked prefill, KV pool, retraction) whose
step times come from a roofline over the GPU and model facts (:mod:`autotuner.facts`);
:func:`plan_memory` lays out memory as the engine does (:mod:`.flavors`) and raises
:class:`StartupFailure` where it would fail to start.

>>> from autotuner.sim import SimServerArgs, evaluate_level
>>> p = evaluate_level(SimServerArgs(sim_model="Llama-3.1-8B", sim_gpu="H100"), "D(100,100)", 1, 10)
>>> round(p.tpot_p50_s * 1e3)  # ms per output token for one user
7

Importing this package is light: no aiohttp, tokenizers or transformers.
"""

from autotuner.sim.args import SimServerArgs, parse_argv
from autotuner.sim.engine import EngineCore, RequestRejected, SimRequest, StepOutcome
from autotuner.sim.memory import (
    MemoryPlan,
    StartupFailure,
    plan_memory,
    startup_seconds,
)
from autotuner.sim.scenario import Scenario, parse_scenario
from autotuner.sim.virtual import LevelPrediction, evaluate_config, evaluate_level

__all__ = [
    "EngineCore", "LevelPrediction", "MemoryPlan", "RequestRejected", "Scenario", "SimRequest",
    "SimServerArgs", "StartupFailure", "StepOutcome", "evaluate_config", "evaluate_level", "parse_argv",
    "parse_scenario", "plan_memory", "startup_seconds",
]

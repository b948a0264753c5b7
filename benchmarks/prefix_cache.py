"""What the prefix cache is worth on a shared-prefix surface, and why: the figures of
docs/prefix-caching.md.

    python -m benchmarks.prefix_cache [--surface benchmarks/surfaces/prefix-qwen32b-h100.yaml]

1. From the surface's ground truth (:mod:`benchmarks.ground_truth`, cached): the best true score
   (goodput per GPU at the SLO boundary) with the radix cache on (``fcfs`` and ``lpm``) and off,
   per tensor-parallel size and per memory fraction.
2. The arithmetic: the prefill the cache saves per request (the simulator's own step costs for the
   whole prompt against its uncached part after the cached prefix), and the throughput the same
   config reaches at one load with the cache on and off, in virtual time.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from autotuner.sim.cost import StepCost
from autotuner.sim.virtual import evaluate_level
from benchmarks.ground_truth import GroundTruth, load_ground_truth
from benchmarks.surface import load_surface

DEFAULT_SURFACE = "prefix-qwen32b-h100"


def best_scores(truth: GroundTruth, *keys: str) -> dict[tuple, float]:
    """The best true score among the configs sharing the values of ``keys`` (0: none feasible)."""
    best: dict[tuple, float] = {}
    for c in truth.configs.values():
        key = tuple("off" if k == "schedule_policy" and c.config.get("disable_radix_cache") else c.config.get(k)
                    for k in keys)
        best[key] = max(best.get(key, 0.0), c.score)
    return dict(sorted(best.items(), key=lambda kv: str(kv[0])))


def saved_prefill(truth: GroundTruth, config: dict) -> dict[str, float]:
    """Per request of the surface's first scenario: prefill seconds of the whole prompt alone,
    and of its part after the cached prefix (attending to the cached tokens)."""
    spec = truth.spec
    scenario = spec.workload.scenarios[0]
    _, plan = truth.oracle.plan("explain", config)
    prefix = truth.oracle.prefix
    n_in = int(scenario[2:].split(",")[0])
    shared = prefix.tokens_for(n_in) if prefix else 0
    cost = StepCost(plan)
    whole = cost.prefill_seconds([(0, n_in)], logits_rows=1)
    rest = cost.prefill_seconds([(shared, n_in - shared)], logits_rows=1)
    return {"input": n_in, "shared": shared, "whole_s": whole, "rest_s": rest}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prefix_cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--surface", default=DEFAULT_SURFACE)
    args = parser.parse_args(argv)
    truth = load_ground_truth(load_surface(args.surface), progress=print)
    print(f"{truth.surface.title}: {len(truth.configs)} configs, simulator {truth.simulator}, "
          f"optimum {truth.optimum:.1f} output tok/s per GPU\n")
    print("best true score by (tp_size, cache policy):  'off' = disable_radix_cache")
    for key, score in best_scores(truth, "tp_size", "schedule_policy").items():
        print(f"  tp={key[0]} {key[1]:<5} {score:8.1f}")
    print("best true score by (tp_size, cache policy, mem_fraction_static):")
    for key, score in best_scores(truth, "tp_size", "schedule_policy", "mem_fraction_static").items():
        print(f"  tp={key[0]} {key[1]:<5} mem={key[2]:<5} {score:8.1f}")

    best = max(truth.configs.values(), key=lambda c: c.score)
    on = dict(best.config, disable_radix_cache=False)
    off = {k: v for k, v in best.config.items() if k != "schedule_policy"} | {"disable_radix_cache": True}
    s = saved_prefill(truth, on)
    print(f"\nbest config: {best.config} (boundary {best.boundary})")
    print(f"prefill of one {s['input']}-token prompt alone: {s['whole_s'] * 1e3:.1f} ms; its last "
          f"{s['input'] - s['shared']} tokens after {s['shared']} cached: {s['rest_s'] * 1e3:.1f} ms "
          f"(x{s['whole_s'] / s['rest_s']:.2f} less prefill per request)")
    scenario = truth.spec.workload.scenarios[0]
    load = next(iter(best.boundary.values()))
    for name, config in (("cache on ", on), ("cache off", off)):
        sim_args, plan = truth.oracle.plan(name, config)
        p = evaluate_level(sim_args, scenario, load, truth.oracle.sizing(load), plan=plan, prefix=truth.oracle.prefix)
        print(f"  {name} at {load} users: {p.output_tok_s_per_gpu:7.1f} output tok/s per GPU, ttft p90 "
              f"{p.ttft_p90_s * 1e3:6.0f} ms, tpot p90 {p.tpot_p90_s * 1e3:5.1f} ms, "
              f"{p.cached_prompt_tokens / max(1, p.num_completed):.0f} cached prompt tokens per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

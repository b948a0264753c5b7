"""Hidden worlds: drawn from their stated ranges, they change what the real engine measures (not the
twin), and the twin-guided search learns a world from its own levels."""

from __future__ import annotations

import pytest

from benchmarks.ground_truth import OK, load_ground_truth
from benchmarks.strategies import OURS_TWIN, strategy_named
from benchmarks.surface import load_surface
from benchmarks.world_bench import run_in_world
from benchmarks.worlds import (CPU_OVERHEAD_RANGE, PREFILL_RANGE, RESERVE_GIB_RANGE, STARTUP_RANGE, STEP_RANGE, World,
                               draw_world)


def test_worlds_are_drawn_from_their_ranges_and_world_0_is_the_simulator():
    assert draw_world(0).unchanged and draw_world(0).describe() == "unchanged simulator"
    for i in range(1, 30):
        w = draw_world(i)
        assert w == draw_world(i) and not w.unchanged
        assert STEP_RANGE[0] <= w.cost.decode_gpu <= STEP_RANGE[1]
        assert PREFILL_RANGE[0] <= w.cost.prefill_gpu / w.cost.decode_gpu <= PREFILL_RANGE[1]
        assert CPU_OVERHEAD_RANGE[0] <= w.cost.cpu_overhead <= CPU_OVERHEAD_RANGE[1]
        assert RESERVE_GIB_RANGE[0] <= w.reserve_gib <= RESERVE_GIB_RANGE[1]
        assert STARTUP_RANGE[0] <= w.startup <= STARTUP_RANGE[1]


def test_a_world_changes_the_real_engines_truth(quick_surface, quick_truth, tmp_path):
    from autotuner.sim.cost import CostScale

    slow = World(9, CostScale(decode_gpu=1.5, prefill_gpu=1.5), reserve_gib=3.0, startup=2.0)
    truth = load_ground_truth(quick_surface, cache_dir=tmp_path, processes=1, world=slow)
    assert truth.world is slow and truth.optimum < 0.8 * quick_truth.optimum
    key = next(k for k, c in quick_truth.configs.items() if c.status == OK and truth.configs[k].status == OK)
    assert truth.configs[key].startup_s > 1.9 * quick_truth.configs[key].startup_s
    config = truth.configs[key].config
    kv = truth.oracle.plan(key, config)[1].kv_tokens
    assert kv < quick_truth.oracle.plan(key, config)[1].kv_tokens  # 3 GiB less for the KV cache


def test_a_scaled_slo_keeps_its_distance_from_the_engine(quick_surface):
    tight = load_surface("llama70b-8xh100-tight")
    world = draw_world(2)
    slo = tight.in_world(world).task.objective.slo
    assert slo.tpot_p90_s == pytest.approx(tight.task.objective.slo.tpot_p90_s * world.cost.decode_gpu)
    assert slo.ttft_p90_s == pytest.approx(tight.task.objective.slo.ttft_p90_s * world.cost.prefill_gpu)
    assert quick_surface.in_world(world) is quick_surface  # world_slo: fixed


def test_the_twin_guided_search_finds_a_slower_worlds_optimum_within_a_few_trials(quick_surface):
    run = run_in_world(quick_surface, draw_world(2), strategy_named(OURS_TWIN), seed=0, budget=12)
    assert run.summary.to_3pct is not None and run.deployed_to_3pct <= 8
    assert run.summary.answer_gap <= 0.03


def test_a_world_the_twin_never_got_within_3pct_in_is_its_worst():
    import math
    from types import SimpleNamespace

    from benchmarks.world_report import _world_ratio

    runs = lambda *gpu_h: [SimpleNamespace(gpu_h_to_3pct=v) for v in gpu_h]
    assert _world_ratio(runs(1.0, 2.0, 3.0), runs(4.0, 4.0, 4.0)) == 0.5
    assert math.isinf(_world_ratio(runs(1.0, None, None), runs(4.0, 4.0, 4.0)))  # mostly never: infinitely worse
    assert math.isnan(_world_ratio(runs(None, None), runs(None, None)))  # neither got there: no ratio


def test_a_run_without_ours_without_the_twin_reports_no_ratio_to_it_and_no_verdict_on_it():
    """``--worlds-only --contenders ours_twin`` leaves the search without the twin out: its goals
    relative to it are not run, never "0.00, met"."""
    from types import SimpleNamespace

    from benchmarks.world_bench import WorldsResult
    from benchmarks.world_report import NOT_RUN, world_goals, world_table

    run = SimpleNamespace(world=0, gpu_h_to_3pct=0.1, deployed_to_3pct=1,
                          summary=SimpleNamespace(answer_gap=0.0, to_3pct=object()))
    result = WorldsResult(surface=SimpleNamespace(title="surface"), worlds=[draw_world(0)], seeds=[0], budget=1,
                          optima={0: 100.0}, runs={OURS_TWIN: [run]})
    assert world_table(result).splitlines()[-1].count(NOT_RUN) == 2
    ratio_goals = [line for line in world_goals([result]).splitlines() if "ours without the twin" in line]
    assert len(ratio_goals) == 2 and all(NOT_RUN in line and "met" not in line for line in ratio_goals)

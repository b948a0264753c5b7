"""The exact SLO boundary of a config (autotuner.twin.predict.slo_boundary): bisection, and the
scan along a latency flat at its limit that the benchmarks' ground truth adds."""

from __future__ import annotations

import pytest

from autotuner.bench.result import LevelResult
from autotuner.task.spec import LoadSpec
from autotuner.trial.objective import SLO
from autotuner.twin.predict import slo_boundary

SLO_TTFT = SLO(ttft_p90_s=1.5, tpot_p90_s=None)
LOADS = LoadSpec(min=4, max=128, start=16)


def levels(ttft):
    asked = []

    def level(load: int) -> LevelResult:
        asked.append(load)
        return LevelResult("D(2048,512)", load, 128, 128, 0, 0.0, 60.0, 50.0 * load, 0.0, 1.0, ttft_p90_s=ttft(load))
    return level, asked


def test_a_latency_growing_with_the_load_is_bisected_to_its_exact_boundary():
    level, asked = levels(lambda load: 0.02 * load)  # 1.5 s at 75 users
    assert slo_boundary(level, LOADS, SLO_TTFT, gpus=2) == (75, 50.0 * 75 / 2)
    # the scan goes on from the first failing load (76) while they miss by at most 5% (77, 78), up to 79 (1.58 s)
    level, scanned = levels(lambda load: 0.02 * load)
    assert slo_boundary(level, LOADS, SLO_TTFT, gpus=2, plateau=0.05) == (75, 50.0 * 75 / 2)
    assert set(scanned) - set(asked) == {77, 78, 79}


def test_on_a_plateau_at_the_limit_the_scan_finds_the_largest_passing_load():
    # vLLM's TTFT from 64 users on (benchmarks/surfaces/vllm-qwen7b-h200.yaml, world 4): flat at 1.5 s
    flat = {64: 1.500, 65: 1.505, 66: 1.510, 70: 1.491, 76: 1.499, 78: 1.509}
    ttft = lambda load: 0.02 * load if load < 64 else flat.get(load, 1.505 if load < 80 else 1.7)
    level, _ = levels(ttft)
    bisected, _ = slo_boundary(level, LOADS, SLO_TTFT, gpus=1)
    assert bisected < 76  # bisection stops at the first failing load it brackets
    # 1.499 s at 76 users, 1.505 s at 77: the limit is crossed a sixth of the way to 77
    assert slo_boundary(level, LOADS, SLO_TTFT, gpus=1, plateau=0.05) == (76, pytest.approx(50.0 * (76 + 1 / 6)))

"""The discrete-event simulator's local search from the fast path's best (autotuner.twin.climb)."""

from __future__ import annotations

from autotuner.task.space import SearchSpace
from autotuner.task.spec import TaskSpec
from autotuner.twin.climb import climb, neighbours
from autotuner.twin.grid import config_key
from autotuner.twin.predict import ConfigPrediction, Model, Outcome


def space(params: dict) -> SearchSpace:
    return SearchSpace.from_spec(TaskSpec.model_validate({"name": "t", "model": {"name": "m"},
                                                          "search": {"space": params}}))


def test_neighbours_move_one_parameter_to_its_other_values_or_nearby_in_a_long_range():
    s = space({"tp_size": {"choices": [1, 2, 4]}, "mem_fraction_static": {"low": 0.5, "high": 0.9, "step": 0.01}})
    moved = neighbours(s, {"tp_size": 2, "mem_fraction_static": 0.7})
    assert [c["tp_size"] for c in moved if c["mem_fraction_static"] == 0.7] == [1, 4]
    # 41 values: one step and an eighth of the range (5 steps) either way
    assert sorted(c["mem_fraction_static"] for c in moved if c["tp_size"] == 2) == [0.65, 0.69, 0.71, 0.75]
    edge = neighbours(s, {"tp_size": 1, "mem_fraction_static": 0.5})
    assert sorted(c["mem_fraction_static"] for c in edge if c["tp_size"] == 1) == [0.51, 0.55]


class ScoreTwin:
    """A twin whose simulator scores configs by a function, counting its evaluations."""

    def __init__(self, score):
        self.score, self.calls = score, []

    def predict(self, config, model):
        assert model is Model.SIMULATOR
        self.calls.append(config_key(config))
        return ConfigPrediction(config, Outcome.OK, model, 1, 10.0, score=self.score(config))


def test_climb_moves_to_the_best_neighbour_while_it_is_better_and_returns_what_it_evaluated():
    s = space({"tp_size": {"choices": [1, 2, 4, 8]}, "chunked_prefill_size": {"choices": [1024, 2048, 4096, 8192]}})
    twin = ScoreTwin(lambda c: 10 * c["tp_size"] + c["chunked_prefill_size"] // 1024)  # best at 8, 8192
    start = twin.predict({"tp_size": 1, "chunked_prefill_size": 1024}, Model.SIMULATOR)
    new = climb(twin, s, [start], known=[start], steps=2)
    # step 1: to tp 8 (6 neighbours); step 2: to 8192 (3 new: its other tp moves were seen); none twice
    assert max(p.score for p in new) == 88
    assert len(twin.calls) == len(set(twin.calls)) == 1 + 6 + 3
    assert config_key(start.config) not in {config_key(p.config) for p in new}
    # one step only: the best neighbour of the start
    assert max(p.score for p in climb(twin, s, [start], known=[start], steps=1)) == 81
    # at the best it looks around once and stops
    top = twin.predict({"tp_size": 8, "chunked_prefill_size": 8192}, Model.SIMULATOR)
    around = climb(twin, s, [top], known=[top])
    assert len(around) == 6 and all(p.score < 88 for p in around)


def test_climb_finds_the_vllm_surface_optimum_the_fast_path_ranks_low():
    """The module's example: from tp 1 with small prefill batches to tp 1 with 16384."""
    from pathlib import Path

    import yaml

    from autotuner.task.load import require_valid
    from autotuner.twin.predict import Twin

    surface = yaml.safe_load((Path(__file__).parents[2] / "benchmarks/surfaces/vllm-qwen7b-h200.yaml").read_text())
    spec = require_valid(surface["task"])
    twin = Twin(spec)
    config = {**spec.engine.fixed, "tensor_parallel_size": 1, "data_parallel_size": 1, "gpu_memory_utilization": 0.8,
              "max_num_seqs": 64, "max_num_batched_tokens": 4096, "enforce_eager": False,
              "max_cudagraph_capture_size": 64, "kv_cache_dtype": "fp8"}
    start = twin.predict(config, Model.SIMULATOR)
    best = max(climb(twin, SearchSpace.from_spec(spec), [start], known=[start], steps=1), key=lambda p: p.score)
    assert best.config["max_num_batched_tokens"] == 16384 and best.score > 1.03 * start.score

"""The configs the twin screens: the whole grid of a small space, a stratified sample of a huge one."""

from __future__ import annotations

import math
from collections import Counter

from autotuner.task.space import SearchSpace
from autotuner.twin.grid import config_key, configs_to_screen, grid_configs, space_size, stratified_configs

HUGE = SearchSpace(params=(("tp_size", {"choices": [1, 2]}),
                           ("mem_fraction_static", {"low": 0.55, "high": 0.95, "step": 0.01}),
                           ("max_running_requests", {"low": 4, "high": 256, "log": True}),
                           ("disable_cuda_graph", {"choices": [False, True]}),
                           ("cuda_graph_max_bs", {"choices": [8, 64, 256], "when": {"disable_cuda_graph": False}})),
                   fixed=(("dp_size", 1),), int_params=frozenset({"max_running_requests"}))


def test_a_small_space_is_screened_whole():
    space = SearchSpace(params=(("disable_cuda_graph", {"choices": [False, True]}),
                                ("cuda_graph_max_bs", {"choices": [8, 16], "when": {"disable_cuda_graph": False}})),
                        fixed=())
    configs, total = configs_to_screen(space, limit=100)
    assert total == 3 and configs == grid_configs(space)


def test_a_space_with_a_log_int_range_is_unbounded_and_sampled():
    assert math.isinf(space_size(HUGE))
    configs, _ = configs_to_screen(HUGE, limit=600, seed=1)
    assert 550 <= len(configs) <= 600  # a few draws coincide
    assert len({config_key(c) for c in configs}) == len(configs)


def test_every_value_of_every_parameter_is_drawn_evenly():
    configs = stratified_configs(HUGE, 600, seed=3)
    tp = Counter(c["tp_size"] for c in configs)
    assert abs(tp[1] - tp[2]) <= 10
    mem = Counter(c["mem_fraction_static"] for c in configs)
    assert len(mem) == 41 and max(mem.values()) - min(mem.values()) <= 3  # 600 / 41 each, dedup aside
    mrr = [c["max_running_requests"] for c in configs]
    assert min(mrr) <= 5 and max(mrr) >= 240  # the log range reaches both ends
    assert sum(m < 32 for m in mrr) / len(mrr) > 0.3  # log-spaced: a third of the draws below 32


def test_conditions_hold_in_the_sample():
    for c in stratified_configs(HUGE, 200, seed=0):
        assert ("cuda_graph_max_bs" in c) == (c["disable_cuda_graph"] is False)
        assert c["dp_size"] == 1

"""The discrete space as the define-by-run SearchSpace samples it."""

from __future__ import annotations

import optuna
import pytest

from autotuner.task.space import SearchSpace
from autotuner.task.spec import ParamSpace
from benchmarks.space_grid import NotDiscrete, config_key, grid_configs, param_values


def test_values_of_each_kind_of_range():
    assert param_values("tp_size", ParamSpace(choices=[1, 2]), True) == [1, 2]
    assert param_values("max_running_requests", ParamSpace(low=8, high=32, step=8), True) == [8, 16, 24, 32]
    assert param_values("mem_fraction_static", ParamSpace(low=0.8, high=0.96, step=0.04), False) == [0.8, 0.84, 0.88, 0.92, 0.96]
    with pytest.raises(NotDiscrete):
        param_values("mem_fraction_static", ParamSpace(low=0.8, high=0.9), False)


def test_nested_loops_in_listed_order_with_conditions():
    space = SearchSpace(params=(("disable_cuda_graph", {"choices": [False, True]}),
                                ("cuda_graph_max_bs", {"choices": [8, 16], "when": {"disable_cuda_graph": False}}),
                                ("tp_size", {"choices": [1, 2]})),
                        fixed=(("dp_size", 1),))
    assert grid_configs(space) == [
        {"dp_size": 1, "disable_cuda_graph": False, "cuda_graph_max_bs": 8, "tp_size": 1},
        {"dp_size": 1, "disable_cuda_graph": False, "cuda_graph_max_bs": 8, "tp_size": 2},
        {"dp_size": 1, "disable_cuda_graph": False, "cuda_graph_max_bs": 16, "tp_size": 1},
        {"dp_size": 1, "disable_cuda_graph": False, "cuda_graph_max_bs": 16, "tp_size": 2},
        {"dp_size": 1, "disable_cuda_graph": True, "tp_size": 1},
        {"dp_size": 1, "disable_cuda_graph": True, "tp_size": 2},
    ]


def test_every_sampled_config_is_in_the_grid(quick_surface):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace.from_spec(quick_surface.task)
    keys = {config_key(c) for c in grid_configs(space)}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(50):
        trial = study.ask()
        fixed = space(trial)
        assert config_key({**fixed, **trial.params}) in keys
        study.tell(trial, 0.0)


def test_keys_ignore_float_noise_and_order():
    assert config_key({"mem_fraction_static": 0.5700000000000001, "tp_size": 1}) == \
        config_key({"tp_size": 1, "mem_fraction_static": 0.57})

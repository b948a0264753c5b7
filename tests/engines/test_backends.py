"""The backend registry: each ``engine.backend`` value names a class with from_spec, slots and gc."""

import typing

import pytest

from autotuner.engines.backends import BACKENDS, make_backend
from autotuner.plugins import BACKEND_RULES, UnknownName
from autotuner.engines.base import EngineBackend
from autotuner.engines.local import LocalProcessEngine
from autotuner.task.load import require_valid
from autotuner.task.spec import EngineSpec


def spec(**over):
    data = {"name": "b", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "tokenizer": "/tok"},
            "search": {"space": {"tp_size": {"choices": [1, 2]}}}}
    return require_valid({**data, **over})


def test_the_registry_holds_every_backend_the_spec_allows():
    assert set(BACKENDS) == set(BACKEND_RULES) == set(typing.get_args(EngineSpec.model_fields["backend"].annotation))
    for name in BACKENDS:
        cls = BACKENDS.get(name)
        assert cls.name == name
        assert all(callable(getattr(cls, m)) for m in ("from_spec", "trial_slots", "collect_garbage", "deploy"))
    with pytest.raises(UnknownName, match="unknown engine.backend 'slurm'; allowed: local, ome"):
        BACKENDS.get("slurm")


def test_the_local_backend_is_configured_from_the_task():
    engine = make_backend(spec(seed=7, engine={"local": {"command": "simulator", "startup_time_scale": 0.5}}),
                          api_key="k")
    assert isinstance(engine, LocalProcessEngine) and isinstance(engine, EngineBackend)
    s = engine.settings
    assert (s.command, s.sim_seed, s.sim_startup_scale, s.api_key, s.tokenizer_path) == ("simulator", 7, 0.5, "k", "/tok")


def test_a_local_campaign_leaves_nothing_to_collect():
    assert LocalProcessEngine.collect_garbage(spec(), "b-123456") is None

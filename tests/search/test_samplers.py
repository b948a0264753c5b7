"""The samplers ``search.algorithm`` names, and the searcher built with another one."""

import typing

import optuna
import pytest

from autotuner.search import make_searcher
from autotuner.search.samplers import SAMPLERS, make_sampler
from autotuner.task.load import require_valid
from autotuner.task.spec import SearchSpec


def test_every_algorithm_the_spec_allows_is_registered():
    assert set(SAMPLERS) == set(typing.get_args(SearchSpec.model_fields["algorithm"].annotation))
    assert isinstance(make_sampler("random", 3), optuna.samplers.RandomSampler)
    with pytest.raises(ValueError, match="unknown search.algorithm .grid.; allowed: tpe, random"):
        make_sampler("grid", 0)


def test_the_searcher_takes_another_sampler():
    spec = require_valid({"name": "s", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
                          "search": {"space": {"tp_size": {"choices": [1, 2]}}}})
    sampler = optuna.samplers.QMCSampler(seed=1)
    searcher = make_searcher(spec, sampler).searcher  # inside the ConcurrencyLimiter
    searcher.set_search_properties("score", "max", {})
    assert searcher._ot_study.sampler is sampler  # Ray's OptunaSearch keeps its study private

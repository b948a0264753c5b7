"""The examples in the benchmark modules' docstrings run and stay true."""

import doctest
import importlib

import pytest

MODULES = ["benchmarks.space_grid", "benchmarks.metrics", "benchmarks.comparisons", "benchmarks.search_report",
           "autotuner.trial.sweep", "autotuner.search.samplers", "benchmarks.worlds"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0

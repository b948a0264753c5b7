"""The twin's module examples run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["autotuner.twin.steady", "autotuner.twin.grid", "autotuner.twin.predict", "autotuner.twin.plan", "autotuner.twin.climb",
           "autotuner.twin.guide", "autotuner.twin.agreement"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

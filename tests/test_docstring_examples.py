"""Every docstring example in the project runs as written (``>>>`` lines are a promise to readers)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("autotuner", "trainables", "serve_app", "benchmarks")


def modules_with_examples() -> list[str]:
    """The dotted names of the packages' modules whose source holds a ``>>>`` example."""
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if ">>>" in path.read_text():
                parts = path.relative_to(REPO).with_suffix("").parts
                names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


def test_the_examples_are_found():
    assert {"autotuner.trial.loadsearch", "autotuner.sim.engine", "benchmarks.worlds"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0  # examples marked +SKIP (they need a campaign's files) are not attempted

"""The examples in the simulator's docstrings run and stay true."""

import doctest
import importlib

import pytest

MODULES = ["__init__", "args", "cost", "engine", "engine_models.sglang", "engine_models.vllm", "layout", "memory", "requests", "scenario",
           "tokenizer", "virtual"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module("autotuner.sim" if name == "__init__" else f"autotuner.sim.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_package_import_is_light():
    import subprocess
    import sys

    code = ("import sys, autotuner.sim; heavy = [m for m in ('aiohttp', 'tokenizers', 'transformers', 'numpy') "
            "if m in sys.modules]; print(heavy); assert not heavy")
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr

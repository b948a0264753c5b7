"""Importing the simulator package stays light (the examples run in tests/test_docstring_examples.py)."""


def test_package_import_is_light():
    import subprocess
    import sys

    code = ("import sys, autotuner.sim; heavy = [m for m in ('aiohttp', 'tokenizers', 'transformers', 'numpy') "
            "if m in sys.modules]; print(heavy); assert not heavy")
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr

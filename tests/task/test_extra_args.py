"""engine.local.extra_args adds flags to the launch line; it cannot override one the tuner sets on
every launch (address, port, model, tokenizer, served name, API key, a tuned or fixed parameter),
however the engine's parser would read it: ``--port=1``, an abbreviation, an alias, vLLM's
underscores. `autotuner validate` names the flag; nothing starts."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotuner.task.load import load_spec

ROOT = Path(__file__).resolve().parents[2]


def task_file(tmp_path: Path, example: str, extra_args: list[str]) -> Path:
    data = yaml.safe_load((ROOT / "examples" / example).read_text())
    data["engine"]["local"]["extra_args"] = extra_args
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_validate_names_the_flag_that_would_make_the_engine_listen_everywhere(tmp_path):
    path = task_file(tmp_path, "quickstart.yaml", ["--host", "0.0.0.0"])
    out = subprocess.run([str(Path(sys.executable).parent / "autotuner"), "validate", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert 'engine.local.extra_args: "--host" -- overrides --host, which the tuner sets on every launch' in out.stderr


@pytest.mark.parametrize(("example", "arg", "flag"), [
    ("quickstart.yaml", "--port=1", "--port"),
    ("quickstart.yaml", "--hos", "--host"),  # argparse expands an unambiguous prefix
    ("quickstart.yaml", "--model", "--model-path"),  # SGLang's alias
    ("quickstart.yaml", "--served-model-name", "--served-model-name"),
    ("quickstart.yaml", "--tokenizer-path", "--tokenizer-path"),
    ("quickstart.yaml", "--tp-size", "--tp-size"),  # tuned in search.space
    ("quickstart.yaml", "--api-k", "--api-key"),
    ("quickstart-vllm.yaml", "--served_model_name", "--served-model-name"),  # vLLM reads _ as -
    ("quickstart-vllm.yaml", "--model", "--model"),
])
def test_an_override_is_a_field_error_naming_the_flag(tmp_path, example, arg, flag):
    spec, problems = load_spec(task_file(tmp_path, example, [arg, "x"]))
    found = [p for p in problems if p.path == "engine.local.extra_args"]
    assert len(found) == 1 and f"overrides {flag}," in found[0].message, problems


def test_other_flags_pass(tmp_path):
    _, problems = load_spec(task_file(tmp_path, "quickstart.yaml", ["--log-level", "info", "--trust-remote-code"]))
    assert problems == []

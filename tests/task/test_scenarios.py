"""The tuner's scenario check agrees with genai-bench's own validator (run in a subprocess: importing
genai_bench monkeypatches this process through gevent)."""

import json
import subprocess
import sys

import pytest

from autotuner.task.scenarios import GENAI_BENCH_TEXT_PATTERNS, scenario_problem

CORPUS = [
    "D(100,100)", "D(128,32)", "N(480,240)/(300,150)", "N(100,0)/(50,0)", "U(50,100)/(20,40)", "U(100,50)",
    "D(100, 100)", " D(100,100)", "D(100,100) ", "D(100,100)\n", "d(100,100)", "D(100)", "D(1,2,3)",
    "N(1,2)", "U(1,2)/(3)", "D(-1,5)", "D(1.5,2)", "E(100)", "R(10,5)", "I(512,512)", "A(100)",
    "dataset", "X(1,2)", "", "D(\u0661\u0660\u0660,100)",
]

GENAI_BENCH_VERDICTS = """
import json, sys
from genai_bench.scenarios.base import Scenario, TextDistribution
from genai_bench.cli.validation import validate_scenario_callback
patterns = {c.scenario_type.value: c.validation_pattern for c in Scenario._registry.values()
            if isinstance(c.scenario_type, TextDistribution)}
verdicts = {}
for text in json.load(sys.stdin):
    try:
        validate_scenario_callback(text)  # what --traffic-scenario runs
        verdicts[text] = True
    except Exception:
        verdicts[text] = False
print(json.dumps({"patterns": patterns, "verdicts": verdicts}))
"""


@pytest.fixture(scope="module")
def genai_bench() -> dict:
    done = subprocess.run([sys.executable, "-c", GENAI_BENCH_VERDICTS], input=json.dumps(CORPUS),
                          capture_output=True, text=True, timeout=120, env={"ENABLE_UI": "false", "PATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_patterns_are_genai_bench_verbatim(genai_bench):
    assert GENAI_BENCH_TEXT_PATTERNS == genai_bench["patterns"]


@pytest.mark.integration
def test_whatever_the_tuner_accepts_genai_bench_accepts(genai_bench):
    verdicts = genai_bench["verdicts"]
    assert any(not ok for ok in verdicts.values()) and any(verdicts.values())
    for text, ok in verdicts.items():
        if scenario_problem(text) is None:
            assert ok, f"the tuner accepts {text!r}, genai-bench refuses it"
        if not ok:
            assert scenario_problem(text) is not None, text

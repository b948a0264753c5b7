"""``autotuner plan`` as a user runs it: a subprocess, no Ray, tables or JSON on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from autotuner.sim.version import simulator_version
from autotuner.twin.plan import LABEL

REPO = Path(__file__).resolve().parents[2]


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autotuner.cli", "plan", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=280)


def test_plan_of_the_quickstart_prints_its_predictions():
    done = plan("examples/quickstart.yaml")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(LABEL) and simulator_version() in out
    assert "stratified sample of" in out  # the quickstart's ranges make a space too large to screen whole
    for section in ("Predicted best configs", "Which parameters matter", "Predicted GPU-hours of the campaign"):
        assert section in out
    first = out.splitlines()[out.splitlines().index(next(l for l in out.splitlines() if l.startswith(" #"))) + 1]
    assert first.split()[0] == "1" and float(first.split()[1]) > 4000  # tok/s per GPU, 8B on an H100


def test_plan_json_is_typed_records_and_imports_no_ray(tmp_path):
    done = plan("examples/quickstart.yaml", "--json", "--sample", "200")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["label"] == LABEL and data["simulator"] == simulator_version() and data["screened"] <= 200
    best = data["best"][0]
    assert best["outcome"] == "ok" and best["model"] == "simulator" and best["boundary"]["D(128,32)"] > 0
    assert data["cost"]["total_gpu_h"] > 0 and data["effects"][0]["spread"] >= data["effects"][-1]["spread"]
    probe = subprocess.run([sys.executable, "-c", "import sys, autotuner.twin.plan as p; "
                            "p.plan_task; print('ray' in sys.modules)"], cwd=REPO, capture_output=True, text=True)
    assert probe.stdout.strip() == "False"


def test_an_invalid_task_is_refused_with_its_problems(tmp_path):
    task = tmp_path / "bad.yaml"
    task.write_text((REPO / "examples" / "quickstart.yaml").read_text().replace("tp_size: {choices: [1, 2]}",
                                                                               "tp_size: {choices: [1, 99]}"))
    done = plan(str(task))
    assert done.returncode == 2 and "search.space.tp_size" in done.stderr and not done.stdout

"""The files a resume depends on (spec.yaml, best_config.json, best_launch_command.txt, the best
manifest) are written atomically: when a write fails part-way (here: the file-size limit of a
full disk, RLIMIT_FSIZE, in a child process), the previous version stays whole and no part of the
new one is left."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OLD = "previous complete version\n"
LIMIT = 32  # bytes: every new file here is longer, the old one is shorter

PRELUDE = """
import resource, signal, sys
from pathlib import Path
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import BestAnswer, TrialRecord, TrialStatus
from autotuner.task.load import parse_spec_text
folder = Path(sys.argv[1])
spec, _ = parse_spec_text((Path(sys.argv[2]) / "examples/quickstart.yaml").read_text())
spec = spec.model_copy(update={"output": str(folder)})
best = TrialRecord("t1", {"tp_size": 1, "mem_fraction_static": 0.8}, status=TrialStatus.DONE, gpus=1, score=1.0,
                   feasible=True)
answer = BestAnswer.of(best, [], launch_command=spec.launch_command(best.config), objective_unit="tok/s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
"""

WRITERS = {
    "best_config.json": """
CampaignFolder(folder).write_best(answer)
""",
    # best_config.json (written first, and longer) would hit the limit first: leave it out.
    "best_launch_command.txt": """
import autotuner.results.folder as results
results.write_json = lambda path, data: None
CampaignFolder(folder).write_best(answer)
""",
    "best_inferenceservice.yaml": """
from autotuner.results.best_manifest import write_best_manifest
write_best_manifest(spec, best.config, folder, "cid", best.trial_id)
""",
    # A campaign folder of a start that ran no trial (the tuner writes only into its own folders).
    "spec.yaml": """
import json
from autotuner.campaign.driver import run_campaign
(folder / "campaign.json").write_text(json.dumps({"id": "q-1", "name": "quickstart", "status": "failed"}))
run_campaign(spec)
""",
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_failed_write_keeps_the_previous_file_whole(tmp_path, name):
    (tmp_path / name).write_text(OLD)
    script = PRELUDE.replace("FSIZE_LIMIT", str(LIMIT)) + textwrap.dedent(WRITERS[name])
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr[-2000:]
    assert (tmp_path / name).read_text() == OLD
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("name", list(WRITERS))
def test_without_a_fault_the_file_is_written(tmp_path, name):
    script = PRELUDE.replace("FSIZE_LIMIT", "resource.RLIM_INFINITY") + textwrap.dedent(WRITERS[name])
    if name == "spec.yaml":  # stop right after the folder's files, before Ray starts
        script = script.replace("run_campaign(spec)", "import autotuner.campaign.driver as c\n"
                                "c.connect_ray = lambda spec: sys.exit(0)\nrun_campaign(spec)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len((tmp_path / name).read_text()) > LIMIT

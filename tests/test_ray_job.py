"""Campaigns as Ray jobs on a `ray start --head` cluster without GPUs, the way users submit them:
the README's commands work verbatim (`ray job submit` runs the quickstart to the end, with the
job's logs streaming its levels); a campaign no node can place fails within seconds; a real
`ray job stop` mid-trial followed by a resume repeats no finished trial and leaves no engine
behind."""

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignStatus, TrialStatus
from tests.conftest import REPO, machine_load, phase_within, ray_env, ray_head
from tests.campaign.test_campaign import GOOD, leftover_processes, small_task

pytestmark = pytest.mark.integration

# Away from Ray's defaults, from the web tests' cluster and from the kernel's ephemeral range
# (32768-60999), where any process's outgoing connection may hold a port.
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT = 6391, 8276, 20041, 24408
ADDRESS = f"http://127.0.0.1:{DASHBOARD_PORT}"
RAY = str(Path(sys.executable).parent / "ray")
ENDED = (TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED, TrialStatus.REJECTED)


@pytest.fixture
def cluster():
    with ray_head(GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, prefix="rayjob-") as env:
        yield env, RAY


def ray_job(env: dict, *argv: str, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    """`ray job ...` against the test cluster (whose job agent is up: :func:`tests.conftest.ray_head`)."""
    return subprocess.run([RAY, "job", *argv], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def job_status(job_id: str) -> str:
    from ray.job_submission import JobSubmissionClient

    return str(JobSubmissionClient(ADDRESS).get_job_status(job_id).value)


def wait_for_status(job_id: str, wanted: tuple[str, ...], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while (status := job_status(job_id)) not in wanted and time.monotonic() < deadline:
        time.sleep(1)
    return status


def job_logs(job_id: str) -> str:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(ADDRESS).get_job_logs(job_id)


def campaign_progress(folder: Path):
    """How far the campaign in ``folder`` got, for the message of a phase that ran out of time."""

    def progress() -> str:
        if not CampaignFolder(folder).is_campaign():
            return f"no {folder}/campaign.json yet: the job's driver had not started the campaign"
        try:
            meta, trials, _ = CampaignFolder(folder).load()
        except Exception as err:  # noqa: BLE001 - a file being rewritten; the message says so
            return f"campaign files unreadable ({err})"
        ended = sum(t.status in ENDED for t in trials)
        return f"campaign {meta.status}: {ended} of {len(trials)} trials ended"

    return progress


def test_a_campaign_no_node_can_place_fails_within_seconds_saying_what_to_do(tmp_path):
    """A plain `ray start --head`: no GPU, no simulated_gpu slots."""
    simulated = small_task(tmp_path / "sim")
    real = small_task(tmp_path / "real", model={"name": "meta-llama/Llama-3.2-1B-Instruct", "path": str(tmp_path),
                                                "tokenizer": str(tmp_path)},
                      engine={"gpu": "H100", "local": {"command": "engine"}})
    expected = {"sim": "ray start --head --resources='{\"simulated_gpu\": 8}'", "real": "has GPUs"}
    with ray_head(GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, prefix="rayjob-", node_args=()) as env:
        for name, task in (("sim", simulated), ("real", real)):
            (tmp_path / name).mkdir(exist_ok=True)
            task_file = tmp_path / name / "task.yaml"
            task_file.write_text(yaml.safe_dump(task))
            submit = ray_job(env, "submit", "--address", ADDRESS, "--submission-id", f"unplaceable-{name}",
                             "--no-wait", "--", "autotuner", "run", str(task_file))
            assert submit.returncode == 0, submit.stderr[-2000:]
            t0 = time.monotonic()
            status = wait_for_status(f"unplaceable-{name}", ("FAILED", "SUCCEEDED", "STOPPED"), 120)
            waited = time.monotonic() - t0
            if status != "FAILED":
                ray_job(env, "stop", "--address", ADDRESS, f"unplaceable-{name}")
            logs = job_logs(f"unplaceable-{name}")
            assert status == "FAILED" and expected[name] in logs, (status, logs[-3000:])
            assert waited < 60, waited  # the driver's start-up included
            meta, trials, _ = CampaignFolder(tmp_path / name / "campaign").load()
            assert meta.status == "failed" and expected[name] in meta.error and trials == []


@pytest.mark.timeout(1200)
def test_ray_job_stop_mid_trial_then_resume(tmp_path):
    """The fault drill: a real `ray job submit` of a campaign with a relative output and
    `--working-dir`, a real `ray job stop` (SIGTERM, SIGKILL 3 s later) while trials run, a file of
    the working dir changed, then a resume submitted the same way."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    task = small_task(tmp_path, trials=6, output="runs/drill")
    task["search"]["initial_configs"] = [GOOD]
    task["workload"]["concurrency"] = [1, 4, 8]
    (work / "task.yaml").write_text(yaml.safe_dump(task))
    folder = home / "runs" / "drill"
    with ray_head(GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, prefix="rayjob-",
                  env_over={"HOME": str(home)}) as env:
        submit = ray_job(env, "submit", "--address", ADDRESS, "--submission-id", "drill-1", "--working-dir", ".",
                         "--no-wait", "--", "autotuner", "run", "task.yaml", cwd=work)
        assert submit.returncode == 0, submit.stderr[-2000:]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            _, trials, _ = CampaignFolder(folder).load() if (folder / "campaign.json").exists() else ({}, [], [])
            measured = [t for t in trials if t.status in ENDED and t.levels_run]
            if measured and any(t.status == "running" for t in trials):  # one measured, one mid-sweep
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no trial was measured while another ran within 300s ({machine_load()}): "
                        + job_logs("drill-1")[-3000:])
        stop = ray_job(env, "stop", "--address", ADDRESS, "drill-1", timeout=120)
        assert stop.returncode == 0, stop.stderr[-2000:]
        assert wait_for_status("drill-1", ("STOPPED",), 60) == "STOPPED"
        meta, trials, levels = CampaignFolder(folder).load()
        assert meta.status == "stopped" and meta.stop_signal == "SIGTERM", meta
        finished = {t.trial_id: [r.level for r in levels if r.trial_id == t.trial_id]
                    for t in trials if t.status in ENDED}
        assert any(finished.values())
        assert no_leftovers_within(folder, 30)

        (work / "notes.txt").write_text("a changed working dir is a new Ray package\n")
        with phase_within(600, "the resumed campaign (`ray job submit ... --resume`)",
                          campaign_progress(folder)) as limit:
            resume = ray_job(env, "submit", "--address", ADDRESS, "--submission-id", "drill-2", "--working-dir",
                             ".", "--", "autotuner", "run", "task.yaml", "--resume", cwd=work, timeout=limit)
        logs = job_logs("drill-2")
        assert resume.returncode == 0 and "status: finished" in logs, logs[-3000:] + resume.stderr[-2000:]
    meta, trials, levels = CampaignFolder(folder).load()
    assert meta.status == "finished" and meta.ray_job_id == "drill-2"
    assert [t.phase for t in trials].count("search") == 6
    for trial_id, before in finished.items():  # 0 finished trials repeated
        assert f"trial {trial_id} deploying" not in logs
        assert [r.level for r in levels if r.trial_id == trial_id] == before
    for trial in trials:  # every trial folder under runs/<name>/trials/
        assert (folder / "trials" / trial.trial_id / "timing.json").exists(), trial.trial_id
    assert not list(work.rglob("trials"))
    assert leftover_processes(tmp_path) == []


@pytest.mark.timeout(900)
def test_a_wider_stop_window_per_job_lets_the_driver_wind_down_by_itself(cluster, tmp_path):
    """RAY_JOB_STOP_WAIT_TIME_S in the job's runtime env reaches Ray's job supervisor (it runs in
    that env): first shown with a driver that ignores SIGTERM (SIGKILL comes only after the wider
    window), then a campaign submitted that way stops its trials and writes its wrap-up itself.
    (With the default 3 s, a driver can be killed while its trials tear down; the drill above
    shows that is safe too.)"""
    env, _ = cluster
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
                "time.sleep(600)")
    submit = ray_job(env, "submit", "--address", ADDRESS, "--submission-id", "stubborn", "--runtime-env-json",
                     '{"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": "12"}}', "--no-wait", "--", "python", "-c", stubborn)
    assert submit.returncode == 0, submit.stderr[-2000:]
    deadline = time.monotonic() + 120
    while "up" not in job_logs("stubborn"):
        assert time.monotonic() < deadline, job_logs("stubborn")
        time.sleep(0.5)
    t0 = time.monotonic()
    assert ray_job(env, "stop", "--address", ADDRESS, "stubborn").returncode == 0
    assert wait_for_status("stubborn", ("STOPPED",), 60) == "STOPPED"
    assert time.monotonic() - t0 > 10

    wider = '{"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": "120"}}'
    task = small_task(tmp_path, trials=4)
    task["search"]["initial_configs"] = [GOOD]
    task["workload"]["concurrency"] = [1, 4, 8]
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    submit = ray_job(env, "submit", "--address", ADDRESS, "--submission-id", "wide-1", "--runtime-env-json", wider,
                     "--no-wait", "--", "autotuner", "run", str(tmp_path / "task.yaml"))
    assert submit.returncode == 0, submit.stderr[-2000:]
    folder = tmp_path / "campaign"
    deadline = time.monotonic() + 300
    while not ((folder / "trials.parquet").exists() and any(t.status == "running" for t in CampaignFolder(folder).load()[1])):
        assert time.monotonic() < deadline, job_logs("wide-1")[-3000:]
        time.sleep(0.5)
    assert ray_job(env, "stop", "--address", ADDRESS, "wide-1", timeout=180).returncode == 0
    assert wait_for_status("wide-1", ("STOPPED",), 150) == "STOPPED"
    logs = job_logs("wide-1")
    assert "status: stopped" in logs and "resume with: autotuner run" in logs, logs[-3000:]
    meta, trials, _ = CampaignFolder(folder).load()
    assert meta.status == "stopped" and meta.ended and not (folder / "campaign.lock").exists()
    assert all(t.status not in ("deploying", "running") for t in trials)
    assert leftover_processes(folder) == []


def no_leftovers_within(root: Path, timeout_s: float) -> bool:
    """No engine or genai-bench process of the campaign under ``root`` is left (Ray kills a
    SIGKILLed driver's trial actors, and their engines with them, within seconds)."""
    deadline = time.monotonic() + timeout_s
    while (left := leftover_processes(root)) and time.monotonic() < deadline:
        time.sleep(1)
    assert left == [], left
    return True


def readme_ray_job_commands() -> list[list[str]]:
    """The commands of the README's "Ray jobs on a cluster" block, as argv lists."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Ray jobs on a cluster"):]
    block = section[section.index("```bash") + len("```bash"):section.index("```", section.index("```bash") + 7)]
    return [shlex.split(line) for line in block.strip().splitlines()]


@pytest.mark.timeout(1800)
def test_the_readme_ray_job_commands_verbatim(tmp_path):
    """The README's block, run from the repository with Ray's default authentication (the
    variables that switch it off in the other tests are unset): only the ports and the session
    folder of `ray start` are this test's own (other clusters may run on the machine), and HOME is
    a temporary one (the token and the results land there, as the README says).

    The quickstart campaign takes a few minutes on an idle 2-core machine and several times that
    on a busy one: each job has its own deadline (900 s for the campaign, 240 s for each rerun
    that only finds it finished), and one it misses fails naming the job, the machine's load and
    how far the campaign got."""
    token, export, start, submit, resume = readme_ray_job_commands()
    assert token == ["ray", "get-auth-token", "--generate"] and export[0] == "export"
    assert start[:3] == ["ray", "start", "--head"] and submit[:3] == resume[:3] == ["ray", "job", "submit"]
    home = tmp_path / "home"
    home.mkdir()
    folder = home / "runs" / "quickstart"
    default_auth = {"HOME": str(home), "RAY_AUTH_MODE": None, "RAY_AUTH_TOKEN": None, "RAY_AUTH_TOKEN_PATH": None}
    made = subprocess.run([RAY, *token[1:]], env={k: v for k, v in {**ray_env(), **default_auth}.items()
                                                  if v is not None}, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and (home / ".ray" / "auth_token").read_text().strip() in made.stdout
    exported = dict(assignment.split("=", 1) for assignment in export[1:])
    with ray_head(GCS_PORT, DASHBOARD_PORT, CLIENT_PORT, AGENT_PORT, prefix="rayjob-", node_args=tuple(start[3:]),
                  env_over={**default_auth, **exported}) as env:
        wrong_token = ray_job({**env, "RAY_AUTH_TOKEN": "not-the-token"}, "list", "--address", ADDRESS)
        assert wrong_token.returncode != 0  # the cluster does want the token

        def run(argv: list[str], job_id: str, limit_s: float) -> str:
            argv = [a.replace("http://127.0.0.1:8265", ADDRESS) for a in argv]
            with phase_within(limit_s, f"README job {job_id} ({shlex.join(argv[:6])} ...)",
                              campaign_progress(folder)) as limit:
                done = ray_job(env, *argv[2:3], "--submission-id", job_id, *argv[3:], cwd=REPO, timeout=limit)
            logs = ray_job(env, "logs", "--address", ADDRESS, job_id).stdout
            assert done.returncode == 0, logs[-3000:] + done.stderr[-2000:]
            return logs

        logs = run(submit, "readme-1", 900)
        assert "level 1 D(128,32)" in logs and "campaign quickstart" in logs and "status: finished" in logs, logs[-3000:]
        assert shutil.which("autotuner", path=env["PATH"])
        meta, trials, _ = CampaignFolder(folder).load()
        assert meta.status == CampaignStatus.FINISHED and trials and (folder / "best_config.json").exists()
        assert all((folder / "trials" / t.trial_id / "timing.json").exists() for t in trials)
        assert "already finished" in run(submit, "readme-2", 240)
        assert "already finished" in run(resume, "readme-3", 240)
    assert CampaignFolder(folder).load()[0].ray_job_id == "readme-1"

"""The web app on a real Ray cluster (``ray start --head``), deployed by ``autotuner ui`` on Ray
Serve, driven by Debian's chromium: a task submitted from the form runs as a Ray job and its
trials, charts and best config appear live; a submission without the token is refused; a task
started with ``ray job submit`` shows in the task list and can be stopped and resumed from the app."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

pytestmark = [pytest.mark.browser, pytest.mark.integration]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STATUS_WORDS = re.compile(r"deploying|loading level \d/\d|done|stopped by ASHA at level \d/\d|failed|rejected")
SMALL_TASK = {  # what the test types into the form (3 trials, 2 levels, no simulated start-up time)
    "field-model-name": "meta-llama/Llama-3.2-1B-Instruct",
    "field-engine-local-startup-time-scale": "0",
    "field-workload-scenarios": "D(64,16)",
    "field-workload-concurrency": "1, 4",
    "field-workload-requests-per-level": "8",
    "field-objective-slo-ttft-p90-s": "2",
    "field-objective-slo-tpot-p90-s": "0.2",
    "field-budget-trials": "3",
}


def ended(statuses: list[str]) -> bool:
    """Whether the last status seen of a trial is a final one."""
    return statuses[-1] in ("done", "failed", "rejected") or statuses[-1].startswith("stopped")


def fill(page, css_class: str, value: str) -> None:
    field = page.locator(f".{css_class} input, .{css_class} textarea").first
    field.fill(value)
    field.press("Tab")  # Bokeh inputs commit their value on change


def open_form(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.locator(".field-name input").wait_for(timeout=30_000)


def bokeh_charts(page) -> tuple[list[str], int]:
    """The titles of the charts in the page, and how many of their data sources hold points
    (titles are drawn on canvas, so they are read from the Bokeh document)."""
    return page.evaluate("""() => {
        const titles = []; let filled = 0;
        for (const doc of window.Bokeh.documents) for (const m of doc.all_models) {
            const kind = m.constructor.__name__;
            if (kind === 'Title' && m.text) titles.push(m.text);
            if (kind === 'ColumnDataSource' && m.get_length() > 0) filled += 1;
        }
        return [titles, filled]; }""")


def task_names(ui) -> list[str]:
    return [t["name"] for t in requests.get(f"{ui.url}/api/tasks", timeout=10).json()]


def test_upload_download_and_a_submission_without_the_token_is_refused(ui_on_ray, browser, screenshots):
    ui = ui_on_ray
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    open_form(page, f"{ui.url}/new")
    # a YAML upload fills the form, and the form downloads as that task
    page.locator("input[type=file]").set_input_files(str(EXAMPLES / "quickstart.yaml"))
    page.get_by_text("Loaded quickstart.yaml: no problems").wait_for(timeout=15_000)
    assert page.locator(".field-name input").input_value() == "quickstart"
    assert page.locator(".field-workload-concurrency input").input_value() == "1, 4, 16, 32"
    with page.expect_download() as download:
        page.get_by_role("button", name="Download YAML").click()
    downloaded = yaml.safe_load(Path(download.value.path()).read_text())
    assert downloaded["name"] == "quickstart" and downloaded["search"]["space"]["tp_size"] == {"choices": [1, 2]}

    fill(page, "field-name", "no-token")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("401: submitting needs the access token").wait_for(timeout=15_000)
    page.screenshot(path=str(screenshots / "new-task-refused-without-token.png"))
    context.close()
    refused = requests.post(f"{ui.url}/api/tasks", data="name: no-token\nmodel: {name: m}\n", timeout=10)
    assert refused.status_code == 401
    time.sleep(2.5)  # one refresh of the task list
    assert "no-token" not in task_names(ui) and not (ui.workspace / "no-token").exists()


def test_a_task_from_the_form_runs_live_to_its_best_config(ui_on_ray, browser, screenshots):
    ui = ui_on_ray
    name = f"web-e2e-{int(time.time()) % 100000}"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    open_form(page, f"{ui.url}/new?token={ui.token}")
    fill(page, "field-name", name)
    for css_class, value in SMALL_TASK.items():
        fill(page, css_class, value)
    page.screenshot(path=str(screenshots / "new-task-form.png"), full_page=True)
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Submitted as Ray job").wait_for(timeout=30_000)
    task_yaml = yaml.safe_load((ui.workspace / name / "task.yaml").read_text())
    assert task_yaml["budget"]["trials"] == 3 and task_yaml["workload"]["concurrency"] == [1, 4]

    page.get_by_role("link", name=f"open task {name}").click()
    page.locator(".tabulator-row").first.wait_for(timeout=90_000)
    seen: dict[str, list[str]] = {}  # trial id -> statuses in the order they were seen
    live_shot = False
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        for text in page.locator(".tabulator-row").all_inner_texts():
            if not text.strip():
                continue  # a row being redrawn
            trial, status = text.split()[0], STATUS_WORDS.search(text)
            if status and (not seen.get(trial) or seen[trial][-1] != status.group()):
                seen.setdefault(trial, []).append(status.group())
        if not live_shot and any(s[-1] in ("deploying",) or s[-1].startswith("loading") for s in seen.values()):
            page.screenshot(path=str(screenshots / "task-page-live.png"), full_page=True)
            live_shot = True
        if page.locator("text=Best config:").count() and len(seen) == 3 and all(map(ended, seen.values())):
            break
        time.sleep(0.4)
    page.screenshot(path=str(screenshots / "task-page-finished.png"), full_page=True)

    assert len(seen) == 3, seen
    assert any(len(statuses) >= 2 for statuses in seen.values()), f"no status changed live: {seen}"
    assert all(map(ended, seen.values())), seen
    assert page.locator("text=Best config:").count(), "no final best config"
    assert "-m sglang.launch_server --model-path" in page.locator(".best-command textarea").input_value()
    titles, filled_sources = bokeh_charts(page)
    for title in ("Best objective so far", "vs p90 TTFT", "vs p90 TPOT", "over the load levels", "importance"):
        assert any(title in t for t in titles), (title, titles)
    assert filled_sources >= 5 and page.locator("canvas").count() >= 5  # drawn with data
    manifest = context.request.get(f"{ui.url}/api/tasks/{name}/inferenceservice.yaml".replace(
        f"/{name}/", f"/{_task_id(ui, name)}/"))
    assert manifest.ok and "kind: InferenceService" in manifest.text()

    page.goto(f"{ui.url}/", wait_until="load")
    page.locator(".tabulator-row", has_text=name).wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots / "tasks-page.png"), full_page=True)
    context.close()


def _task_id(ui, name: str) -> str:
    return next(t["id"] for t in requests.get(f"{ui.url}/api/tasks", timeout=10).json() if t["name"] == name)


def test_a_ray_job_submit_task_shows_in_the_list_and_stops_and_resumes_from_the_app(ui_on_ray, browser, tmp_path):
    ui = ui_on_ray
    task = {"name": "cli-submitted", "model": {"name": "meta-llama/Llama-3.2-1B-Instruct"},
            "engine": {"local": {"command": "simulator", "startup_time_scale": 0}},
            "search": {"space": {"tp_size": {"choices": [1]}, "max_running_requests": {"low": 8, "high": 32}}},
            "workload": {"scenarios": ["D(64,16)"], "concurrency": [1, 2, 4, 8], "requests_per_level": 8},
            "budget": {"trials": 20, "gpus": 1}, "output": str(tmp_path / "cli-submitted")}  # outside the workspace
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    ray = str(Path(ui.env["PATH"].split(":")[0]) / "ray")
    submit = subprocess.run([ray, "job", "submit", "--address", ui.dashboard, "--submission-id", "cli-job-1",
                             "--no-wait", "--", "autotuner", "run", str(task_file)],
                            env=ui.env, capture_output=True, text=True, timeout=60)
    assert submit.returncode == 0, submit.stdout + submit.stderr

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{ui.url}/", wait_until="load")
    page.locator(".tabulator-row", has_text="cli-submitted").wait_for(timeout=30_000)
    assert "cli-job-1" in page.locator(".tabulator-row", has_text="cli-submitted").inner_text()
    page.close()

    # stop it from the app once its trials run (what the Stop button does), with the token
    auth = {"Authorization": f"Bearer {ui.token}"}
    wait_for_task(ui, "cli-job-1", lambda t: t["status"] == "running" and t["trials"], "the campaign never started")
    assert requests.post(f"{ui.url}/api/tasks/cli-job-1/stop", timeout=30).status_code == 401
    stop = requests.post(f"{ui.url}/api/tasks/cli-job-1/stop", headers=auth, timeout=30)
    assert stop.status_code == 200, stop.text
    row = wait_for_task(ui, "cli-job-1", lambda t: t["job_status"] == "STOPPED" and t["status"] == "stopped",
                        "the stopped campaign did not settle as stopped")
    assert row["source"] == "ray job" and row["folder"] == str((tmp_path / "cli-submitted").resolve())
    assert all(t["status"] not in ("deploying", "running") for t in row["trials"])

    # resume it from the app: `autotuner run ... --resume` as a new Ray job, then stop that one too
    assert requests.post(f"{ui.url}/api/tasks/{row['id']}/resume", timeout=30).status_code == 401
    resumed = requests.post(f"{ui.url}/api/tasks/{row['id']}/resume", headers=auth, timeout=30)
    assert resumed.status_code == 201, resumed.text
    job_id = resumed.json()["job_id"]
    row = wait_for_task(ui, row["id"], lambda t: t["job_id"] == job_id and t["status"] == "running",
                        "the resumed campaign never ran")
    assert requests.post(f"{ui.url}/api/tasks/{row['id']}/stop", headers=auth, timeout=30).status_code == 200
    wait_for_task(ui, row["id"], lambda t: t["job_status"] == "STOPPED", "the resumed job did not stop")


def wait_for_task(ui, task_id: str, done, what: str, timeout_s: float = 90) -> dict:
    """Poll the app's view of a task until ``done(task)``."""
    deadline = time.monotonic() + timeout_s
    while True:
        task = requests.get(f"{ui.url}/api/tasks/{task_id}", timeout=10).json()
        if done(task):
            return task
        assert time.monotonic() < deadline, f"{what}: {task}"
        time.sleep(1)

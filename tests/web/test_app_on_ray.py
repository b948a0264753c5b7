"""The web app on a real Ray cluster (``ray start --head``), deployed by ``autotuner ui`` on Ray
Serve, driven by Debian's chromium: a task submitted from the form runs as a Ray job and its
trials, charts and best config appear live (the header and the best-config box agreeing all along,
each trial's Ray actor named in Ray's state API and linked); a submission without the token is
refused and the form names and reveals the field of a problem; a task started with
``ray job submit`` shows in the task list, and the Stop and Resume buttons of the tasks page and
the task page stop and resume it, leaving one row; the doors refuse what they must through Ray
Serve's proxy."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.test_ray_job import ray_job
from tests.web.doors import session_token, ws_handshake

pytestmark = [pytest.mark.browser, pytest.mark.integration]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STATUS_WORDS = re.compile(r"deploying|loading level \d+|done|stopped early after level \d+|re-measured|failed|rejected")
SMALL_TASK = {  # what the test types into the form (3 trials of 2 levels and 1 re-measurement, no start-up time)
    "field-model-name": "meta-llama/Llama-3.2-1B-Instruct",
    "field-engine-local-startup-time-scale": "0",
    "field-workload-scenarios": "D(64,16)",
    "field-workload-concurrency": "1, 4",
    "field-workload-requests-per-level": "8",
    "field-objective-slo-ttft-p90-s": "2",
    "field-objective-slo-tpot-p90-s": "0.2",
    "field-budget-trials": "3",
    "field-remeasure-configs": "1",
}


def ended(statuses: list[str]) -> bool:
    """Whether the last status seen of a trial is a final one."""
    return statuses[-1] in ("done", "re-measured", "failed", "rejected") or statuses[-1].startswith("stopped")


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


def latency_axes(page) -> list[tuple[float, float]]:
    """(largest point, axis end) of the TTFT and TPOT charts as the browser draws them."""
    return page.evaluate("""() => {
        const out = [];
        for (const doc of window.Bokeh.documents) for (const m of doc.all_models) {
            if (m.constructor.__name__ !== 'Figure' || m.x_range.constructor.__name__ !== 'Range1d') continue;
            const column = m.title.text.includes('TTFT') ? 'ttft_ms' : 'tpot_ms';
            let largest = 0;
            for (const r of m.renderers) {
                const values = r.data_source.data[column];
                if (values) for (const v of values) largest = Math.max(largest, v);
            }
            out.push([largest, m.x_range.end]);
        }
        return out; }""")


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
    assert page.locator(".field-workload-concurrency input").input_value() == ""  # it searches the load
    assert page.locator(".field-workload-load-max input").input_value() == "512"
    with page.expect_download() as download:
        page.get_by_role("button", name="Download YAML").click()
    downloaded = yaml.safe_load(Path(download.value.path()).read_text())
    assert downloaded["name"] == "quickstart" and downloaded["search"]["space"]["tp_size"] == {"choices": [1, 2]}

    # a problem is named and its field brought into view; a valid form says so
    fill(page, "field-budget-trials", "0")
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Validate").click()
    page.get_by_text(re.compile(r"1 problem\(s\)\. budget\.trials: .*greater than")).first.wait_for(timeout=15_000)
    trials = page.locator(".field-budget-trials input")
    expect(trials).to_be_in_viewport(timeout=10_000)
    expect(trials).to_be_focused()
    page.screenshot(path=str(screenshots / "new-task-problem-revealed.png"))
    fill(page, "field-budget-trials", "12")
    page.get_by_text("The task is valid: Submit starts it.").first.wait_for(timeout=15_000)

    fill(page, "field-name", "no-token")
    page.get_by_role("button", name="Plan").click()
    page.get_by_text("401: planning needs the access token").wait_for(timeout=15_000)
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
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    open_form(page, f"{ui.url}/new?token={ui.token}")
    fill(page, "field-name", name)
    for css_class, value in SMALL_TASK.items():
        fill(page, css_class, value)
    page.screenshot(path=str(screenshots / "new-task-form.png"), full_page=True)
    # the twin's plan of the task, before anything runs
    page.get_by_role("button", name="Plan").click()
    page.locator(".plan-view pre").get_by_text("PREDICTIONS OF THE SIMULATOR").wait_for(timeout=90_000)
    assert "Predicted GPU-hours of the campaign" in page.locator(".plan-view pre").inner_text()
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Submitted as Ray job").wait_for(timeout=30_000)
    task_yaml = yaml.safe_load((ui.workspace / name / "task.yaml").read_text())
    assert task_yaml["budget"]["trials"] == 3 and task_yaml["workload"]["concurrency"] == [1, 4]

    page.get_by_role("link", name=f"open task {name}").click()
    page.locator(".tabulator-row").first.wait_for(timeout=90_000)
    seen: dict[str, list[str]] = {}  # trial id -> statuses in the order they were seen
    bests: list[tuple[str, str]] = []  # (header, box) each time both showed a best
    live_shot = False
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        header, box = shown_bests(page)
        if header and box and header != box:
            time.sleep(0.5)  # one update (sent under hold()) can render the two panes in different frames: read again
            header, box = shown_bests(page)
        if header and box:
            bests.append((header, box))
        for text in page.locator(".tabulator-row").all_inner_texts():
            if not text.strip():
                continue  # a row being redrawn
            trial, status = text.split()[0], STATUS_WORDS.search(text)
            if status and (not seen.get(trial) or seen[trial][-1] != status.group()):
                seen.setdefault(trial, []).append(status.group())
        if not live_shot and any(s[-1] in ("deploying",) or s[-1].startswith("loading") for s in seen.values()):
            page.screenshot(path=str(screenshots / "task-page-live.png"), full_page=True)
            live_shot = True
        if page.locator("text=Best config:").count() and len(seen) == 4 and all(map(ended, seen.values())):
            break
        time.sleep(0.4)
    page.screenshot(path=str(screenshots / "task-page-finished.png"), full_page=True)

    assert len(seen) == 4, seen  # 3 trials of the search, 1 re-measurement
    assert any(len(statuses) >= 2 for statuses in seen.values()), f"no status changed live: {seen}"
    assert bests and all(header == box for header, box in bests), bests  # one best, while it ran and after
    assert all(map(ended, seen.values())), seen
    assert page.locator("text=Best config:").count(), "no final best config"
    assert "-m sglang.launch_server --model-path" in page.locator(".best-command textarea").input_value()
    titles, filled_sources = bokeh_charts(page)
    for title in ("Best objective so far", "vs p90 TTFT", "vs p90 TPOT", "over the load levels", "importance"):
        assert any(title in t for t in titles), (title, titles)
    assert filled_sources >= 5 and page.locator("canvas").count() >= 5  # drawn with data
    axes = latency_axes(page)
    assert len(axes) == 2 and all(largest > 0 for largest, _ in axes), axes
    for largest, end in axes:  # every point in view, none squashed by a far SLO line
        assert largest <= end <= 1.05 * largest + 1, (largest, end)
    manifest = context.request.get(f"{ui.url}/api/tasks/{name}/inferenceservice.yaml".replace(
        f"/{name}/", f"/{_task_id(ui, name)}/"))
    assert manifest.ok and "kind: InferenceService" in manifest.text()

    # each trial's row links to the actor it ran in, which Ray's state API names after its first
    # trial (a worker goes on to the next trials of its slot: reuse_actors)
    from ray.util.state import list_actors

    actors = {a.actor_id: a for a in list_actors(address=ui.dashboard, filters=[("class_name", "=", "EngineTrial")],
                                                 detail=True, limit=1000)}
    links = {trial: page.locator(".tabulator-row", has_text=trial).locator("a.actor-link").get_attribute("href")
             for trial in seen}
    ran_in = {trial: actors[href.rsplit("/", 1)[-1]] for trial, href in links.items()}
    assert all(href.startswith(f"{ui.dashboard}/#/actors/") for href in links.values()), links
    firsts = {a.repr_name.split(":")[0].removeprefix("EngineTrial(first trial ") for a in ran_in.values()}
    assert firsts <= set(seen), [a.repr_name for a in ran_in.values()]

    page.goto(f"{ui.url}/", wait_until="load")
    page.locator(".tabulator-row", has_text=name).wait_for(timeout=30_000)
    context.close()
    assert console_errors == []  # no 404 (the favicon was one), no failed Bokeh patch on the three pages


BEST_IN_HEADER = re.compile(r"best objective(?: so far)?: ([-\d.e+]+) \(trial (\S+)\)")
BEST_IN_BOX = re.compile(r"Best config(?: so far)?: trial (\S+), objective ([-\d.e+]+)")


def shown_bests(page) -> tuple[str | None, str | None]:
    """The best "score trial" the task page's header shows, and the one its best-config box shows."""
    header = page.locator(".task-summary p", has_text="best objective")
    box = page.locator(".best-title p", has_text="Best config")
    try:
        h = BEST_IN_HEADER.search(header.first.inner_text(timeout=2_000)) if header.count() else None
        b = BEST_IN_BOX.search(box.first.inner_text(timeout=2_000)) if box.count() else None
    except PlaywrightError:  # redrawn while read
        return None, None
    return (f"{h.group(1)} {h.group(2)}" if h else None), (f"{b.group(2)} {b.group(1)}" if b else None)


def _task_id(ui, name: str) -> str:
    return next(t["id"] for t in requests.get(f"{ui.url}/api/tasks", timeout=10).json() if t["name"] == name)


def test_a_ray_job_submit_task_stops_and_resumes_from_the_buttons_of_both_pages(ui_on_ray, browser, tmp_path,
                                                                                  screenshots):
    ui = ui_on_ray
    task = {"name": "cli-submitted", "model": {"name": "meta-llama/Llama-3.2-1B-Instruct"},
            "engine": {"local": {"command": "simulator", "startup_time_scale": 0}},
            "search": {"space": {"tp_size": {"choices": [1]}, "max_running_requests": {"low": 8, "high": 32}}},
            "workload": {"scenarios": ["D(64,16)"], "concurrency": [1, 2, 4, 8], "requests_per_level": 8},
            "budget": {"trials": 20, "gpus": 1}, "output": str(tmp_path / "cli-submitted")}  # outside the workspace
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    submit = ray_job(ui.env, "submit", "--address", ui.dashboard, "--submission-id", "cli-job-1",
                     "--no-wait", "--", "autotuner", "run", str(task_file))
    assert submit.returncode == 0, submit.stdout + submit.stderr

    # the link `autotuner ui` points to (?token=): the pages may act
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{ui.url}/?token={ui.token}", wait_until="load")
    assert "token=" not in page.url  # the app took the token into its cookie and out of the address bar
    row = page.locator(".tabulator-row", has_text="cli-submitted")
    row.wait_for(timeout=30_000)
    assert "cli-job-1" in row.inner_text()
    auth = {"Authorization": f"Bearer {ui.token}"}
    assert requests.post(f"{ui.url}/api/tasks/cli-job-1/stop", timeout=30).status_code == 401  # REST needs it too

    # Stop on the tasks page, once the campaign's trials run
    task = wait_for_task(ui, "cli-job-1", lambda t: t["status"] == "running" and t["trials"],
                         "the campaign never started")
    click_action(page, "cli-submitted", "stop")
    page.get_by_text("stop: Ray job cli-job-1").first.wait_for(timeout=30_000)
    task = wait_for_task(ui, task["id"], lambda t: t["job_status"] == "STOPPED" and t["status"] == "stopped",
                         "the stopped campaign did not settle as stopped")
    assert task["source"] == "ray job" and task["folder"] == str((tmp_path / "cli-submitted").resolve())
    assert all(t["status"] not in ("deploying", "running") for t in task["trials"])

    # Resume on the tasks page: `autotuner run ... --resume` as a new Ray job
    click_action(page, "cli-submitted", "resume")
    page.get_by_text(re.compile(r"resume: Ray job autotuner-cli-submitted-resume-")).first.wait_for(timeout=30_000)
    task = wait_for_task(ui, task["id"], lambda t: t["job_id"] != "cli-job-1" and t["status"] == "running",
                         "the resumed campaign never ran")
    # one row for the campaign, its first start kept, the resume listed, its action in view at 1400 px
    page.wait_for_timeout(2_500)  # a refresh of the list
    assert page.locator(".tabulator-row", has_text="cli-submitted").count() == 1
    assert "resumed 1x" in row.inner_text()
    expect(row.locator("button.task-stop")).to_be_in_viewport()
    page.screenshot(path=str(screenshots / "tasks-page.png"), full_page=True)

    # Stop and Resume on the task page
    row.get_by_role("link", name="cli-submitted").click()
    stop, resume = page.get_by_role("button", name="Stop"), page.get_by_role("button", name="Resume")
    expect(stop).to_be_enabled(timeout=30_000)
    page.locator(".tabulator-row").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots / "task-page-resumed.png"), full_page=True)
    stop.click()
    page.get_by_text(f"stop: Ray job {task['job_id']}").first.wait_for(timeout=30_000)
    wait_for_task(ui, task["id"], lambda t: t["job_status"] == "STOPPED" and t["status"] == "stopped",
                  "the campaign stopped from its page did not settle")
    expect(resume).to_be_enabled(timeout=30_000)
    resume.click()
    page.get_by_text(re.compile(r"resume: Ray job autotuner-cli-submitted-resume-")).first.wait_for(timeout=30_000)
    last = wait_for_task(ui, task["id"], lambda t: t["job_id"] not in ("cli-job-1", task["job_id"])
                         and t["status"] == "running", "the campaign resumed from its page never ran")
    assert "resumed:" in page.locator(".task-summary p", has_text="status").first.inner_text()
    context.close()
    assert requests.post(f"{ui.url}/api/tasks/{last['id']}/stop", headers=auth, timeout=30).status_code == 200
    wait_for_task(ui, last["id"], lambda t: t["job_status"] == "STOPPED", "the last resume did not stop")

    # the CLI's lines (the job's logs) link each trial to its actor in the dashboard
    ray = str(Path(ui.env["PATH"].split(":")[0]) / "ray")
    logs = subprocess.run([ray, "job", "logs", "--address", ui.dashboard, "cli-job-1"], env=ui.env,
                          capture_output=True, text=True, timeout=60).stdout
    assert re.search(rf"trial \S+ deploying .*\(dashboard: {re.escape(ui.dashboard)}/#/actors/[0-9a-f]+\)", logs), logs


def click_action(page, task_name: str, action: str) -> None:
    """Click a task's stop or resume button on the tasks page (once the list shows it)."""
    button = page.locator(".tabulator-row", has_text=task_name).locator(f"button.task-{action}")
    expect(button).to_be_visible(timeout=30_000)
    button.click()


def test_the_doors_hold_through_ray_serve(ui_on_ray, browser):
    ui = ui_on_ray
    page_html = requests.get(f"{ui.url}/", timeout=30).text
    session = session_token(page_html)
    assert ws_handshake(ui.url, "/ws", session, origin="http://evil.example") != 101
    assert ws_handshake(ui.url, "/ws", session, origin=ui.url, host="evil.example:8000") != 101
    assert requests.get(f"{ui.url}/", headers={"Host": "evil.example"}, timeout=30).status_code == 403
    assert ws_handshake(ui.url, "/ws", session, origin=ui.url) == 101
    # a client cannot claim the gate's word for itself; the access box takes the token instead
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  extra_http_headers={"X-Autotuner-Access": "granted"})
    page = context.new_page()
    page.goto(f"{ui.url}/new", wait_until="load")
    page.locator("input[name=token]").fill(ui.token)
    page.locator("input[name=token]").press("Enter")
    page.get_by_text("access token accepted").first.wait_for(timeout=30_000)
    assert page.url == f"{ui.url}/new"
    context.close()


def wait_for_task(ui, task_id: str, done, what: str, timeout_s: float = 90) -> dict:
    """Poll the app's view of a task until ``done(task)``."""
    deadline = time.monotonic() + timeout_s
    while True:
        task = requests.get(f"{ui.url}/api/tasks/{task_id}", timeout=10).json()
        if done(task):
            return task
        assert time.monotonic() < deadline, f"{what}: {task}"
        time.sleep(1)

"""How fast the task page is at 2,000 trials: page load time, and update latency (a report pushed
into the results hub -> visible in the browser).

    .venv/bin/python benchmarks/web_latency.py                 # 2000 trials, 10 updates -> results/web-latency.json
    .venv/bin/python benchmarks/web_latency.py --trials 500 --updates 20 --port 8131

It starts a private local Ray (never a cluster on the machine), deploys the web app with Serve
over a synthetic live campaign of N trials (the files a real campaign writes), opens the task page
in Debian's chromium (cold: new browser profile; warm: scripts cached), then alternately pushes a
new trial ("deploying") and a level report for it ("loading level 2/4") into the hub and times how
long each takes to show in the page. Prints one line per measurement and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic campaign lives with the tests

from tests.web.synthetic import synthetic_report, write_synthetic_campaign  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHARTS_DRAWN_JS = """() => {
    let filled = 0;
    for (const doc of (window.Bokeh ? window.Bokeh.documents : []))
        for (const m of doc.all_models)
            if (m.constructor.__name__ === 'ColumnDataSource' && m.get_length() > 0) filled += 1;
    return filled; }"""


def deploy(workspace: Path, port: int, token: str) -> None:
    import ray
    from ray import serve

    from autotuner.results.hub import get_hub
    from serve_app.deployment import APP_NAME, build_app

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    get_hub(create=True)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    # No dashboard on this private cluster: the job list stays empty, the driver's pid (this
    # process) keeps the synthetic campaign live.
    serve.run(build_app({"workspace": str(workspace), "token": token, "dashboard_address": "http://127.0.0.1:9"}),
              name=APP_NAME, route_prefix="/", blocking=False)


def load_page(context, url: str, min_sources: int = 5) -> tuple[object, dict[str, float]]:
    """Open the task page; seconds until the HTML is parsed, the first table row shows, and the
    charts are drawn with data."""
    page = context.new_page()
    t0 = time.monotonic()
    page.goto(url, wait_until="domcontentloaded")
    marks = {"html": time.monotonic() - t0}
    page.locator(".tabulator-row").first.wait_for(timeout=120_000)
    marks["table"] = time.monotonic() - t0
    while page.evaluate(CHARTS_DRAWN_JS) < min_sources:
        time.sleep(0.02)
    marks["charts"] = time.monotonic() - t0
    return page, marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=10, help="reports pushed (half new trials, half levels)")
    parser.add_argument("--loads", type=int, default=3, help="page loads timed, cold and warm")
    parser.add_argument("--port", type=int, default=8131)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "web-latency.json"),
                        help="where the JSON summary goes (BENCHMARKS.md shows it); '' for nowhere")
    args = parser.parse_args()

    import random

    import ray
    from playwright.sync_api import sync_playwright
    from ray import serve

    from autotuner.results.hub import get_hub
    from autotuner.results.folder import CampaignFolder
    from autotuner.results.records import LevelRow, TrialRecord, TrialStatus

    workspace = Path(tempfile.mkdtemp(prefix="weblat-"))
    write_synthetic_campaign(workspace / "bench", trials=args.trials, running=4, status="running",
                                    pid=os.getpid(), name="bench")
    campaign = CampaignFolder(workspace / "bench").read_meta().id
    url = f"http://127.0.0.1:{args.port}/task?id={campaign}"
    t_deploy = time.monotonic()
    deploy(workspace, args.port, token=secrets.token_urlsafe(24))  # the app refuses a weak one
    print(f"deployed the app in {time.monotonic() - t_deploy:.1f} s; {args.trials} trials; {url}")
    hub = get_hub(create=False)
    rng = random.Random(1)
    loads: dict[str, list[dict[str, float]]] = {}
    latencies: dict[str, list[float]] = {"new trial": [], "level report": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            # cold: a fresh browser profile downloads Bokeh/Panel's scripts; warm: they are cached
            for kind in ("cold", "warm"):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                for i in range(args.loads):
                    page, marks = load_page(context, url)
                    if kind == "warm" and i == 0:
                        page.close()
                        continue  # this load fills the cache
                    loads.setdefault(kind, []).append(marks)
                    print(f"page load ({kind}): html {marks['html']:.2f} s, table {marks['table']:.2f} s, "
                          f"charts {marks['charts']:.2f} s")
                    if i < args.loads - 1:
                        page.close()
            for i in range(args.updates):
                trial_id = f"live{i // 2:04d}"
                config = {"tp_size": 1, "mem_fraction_static": 0.8, "max_running_requests": 64,
                          "schedule_policy": "fcfs"}
                # Newest trials sort first, so each one lands on the page shown.
                record = TrialRecord(trial_id, config, status=TrialStatus.DEPLOYING, gpus=1, started=time.time() + 1e6)
                levels: list = []
                if i % 2:
                    record.status, record.levels_run = TrialStatus.RUNNING, 1
                    levels = [LevelRow.from_report(trial_id, config, synthetic_report(rng, 1, 1, config)).to_row()]
                expected = "deploying" if i % 2 == 0 else "loading level 2"
                row = page.locator(".tabulator-row", has_text=trial_id).filter(has_text=expected)
                t0 = time.monotonic()
                hub.push.remote(campaign, record.to_row(), levels)
                row.first.wait_for(timeout=30_000)
                seconds = time.monotonic() - t0
                latencies["new trial" if i % 2 == 0 else "level report"].append(seconds)
                print(f"update {i + 1} ({expected}): visible after {seconds:.2f} s")
                time.sleep(rng.uniform(0.1, 0.6))  # spread the pushes over the polling phases
            browser.close()
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(workspace, ignore_errors=True)
    every = sorted(v for vs in latencies.values() for v in vs)
    summary = {
        "trials": args.trials,
        "page_load_s": {kind: {mark: {"median": round(statistics.median(m[mark] for m in v), 2),
                                      "max": round(max(m[mark] for m in v), 2)} for mark in ("table", "charts")}
                        | {"n": len(v)} for kind, v in loads.items()},
        "update_latency_s": {"median": round(statistics.median(every), 2),
                             "p90": round(every[max(0, int(len(every) * 0.9) - 1)], 2),
                             "max": round(every[-1], 2), "n": len(every)},
        "by_kind_median_s": {k: round(statistics.median(v), 2) for k, v in latencies.items() if v},
    }
    print("WEB_LATENCY " + json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``autotuner``: run, validate and report tuning campaigns.

    autotuner validate examples/quickstart.yaml
    autotuner plan examples/quickstart.yaml           # the simulator's prediction of the space, no Ray, no GPU
    autotuner run examples/quickstart.yaml            # live per-trial lines, then the final table
    autotuner run examples/quickstart.yaml --resume   # continue an interrupted campaign
    autotuner report runs/quickstart                  # tables + report.png
    autotuner gc runs/llama-1b-ome                    # delete what a crashed OME campaign left behind
    autotuner ui                                      # the web app on Ray Serve: prints its URL and token

``run`` exits 0 with an answer; 1 on an error (one line: the output folder refused, Ray unreachable,
a full disk); 2 on an invalid task; 3 when the campaign stopped before its end; 4 when it ended
without an answer (no config met the SLOs, or every trial failed).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from autotuner.task.load import load_spec
from autotuner.task.spec import Problem, TaskSpec

if TYPE_CHECKING:
    from autotuner.twin.plan import CampaignPlan

EXIT_INVALID = 2
EXIT_UNFINISHED = 3  # stopped or interrupted: --resume goes on
EXIT_NO_ANSWER = 4  # finished, but no config met the SLOs (or every trial failed)
SAMPLE_SIZE = 4000  # autotuner.twin.plan.SAMPLE_SIZE, without importing the simulator for --help


def _print_problems(path: str, problems: list[Problem]) -> None:
    print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    spec, problems = load_spec(args.file)
    if spec is None or problems:
        _print_problems(args.file, problems)
        return EXIT_INVALID
    print(f"{args.file}: ok ({spec.budget.trials} trials over {len(spec.search.space)} parameters, "
          f"{spec.workload.describe()}, {spec.budget.gpus} GPU slots)")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    spec, problems = load_spec(args.file)
    if spec is None or problems:
        _print_problems(args.file, problems)
        return EXIT_INVALID
    import json

    from autotuner.twin.plan import render_plan
    from autotuner.twin.predict import TwinUnavailable

    try:
        plan = _plan(spec, args)
    except TwinUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if plan is None:
        print(f"error: {args.calibrate} holds no measured levels (levels.parquet)", file=sys.stderr)
        return 1
    print(json.dumps(plan.to_dict(), indent=1) if args.json else render_plan(plan))
    return 0


def _plan(spec: TaskSpec, args: argparse.Namespace) -> CampaignPlan | None:
    """The plan ``autotuner plan`` prints (None: ``--calibrate`` names a folder without levels)."""
    from autotuner.twin.plan import plan_task

    calibration, tried = None, frozenset()
    if args.calibrate:
        from autotuner.twin.calibrate import calibration_report, fit, measured_levels
        from autotuner.twin.grid import config_key
        from autotuner.twin.predict import Twin

        observations = measured_levels(Path(args.calibrate))
        if not observations:
            return None
        twin = Twin(spec)
        calibration = calibration_report(twin, observations, fit(twin, observations))
        tried = frozenset(config_key({**spec.engine.fixed, **c}) for c, _ in observations)
    return plan_task(spec, sample_size=args.sample, calibration=calibration, tried=tried)


def cmd_run(args: argparse.Namespace) -> int:
    spec, problems = load_spec(args.file)
    if spec is None or problems:
        _print_problems(args.file, problems)  # before Ray starts or any GPU is claimed
        return EXIT_INVALID
    if args.output:
        spec = spec.model_copy(update={"output": args.output})
    from autotuner.campaign.folder_guard import FolderError, check_output_text, describe_os_error

    try:
        check_output_text(spec.output)  # before a path with a NUL is resolved
        return _run(args, spec)
    except FolderError as err:  # the output folder is refused: nothing was written there
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a full disk, a folder that became read-only
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, spec: TaskSpec) -> int:
    from autotuner.task.paths import OUTPUT_BASE_VAR, is_ray_temporary, resolve_here

    spec = resolve_here(spec)  # once, here: Ray runs trials (and --working-dir jobs) in folders of its own
    if is_ray_temporary(spec.output_dir):
        print(f"warning: the campaign folder {spec.output_dir} is in Ray's temporary folders, which Ray deletes: "
              f"set an absolute output (--output), or ${OUTPUT_BASE_VAR}", file=sys.stderr, flush=True)
    from autotuner.campaign.driver import run_campaign
    from autotuner.campaign.errors import CampaignError
    from autotuner.results.answer import why_no_answer
    from autotuner.results.folder import CampaignFolder
    from autotuner.results.records import CampaignStatus
    from autotuner.results.report import render_chart, summary_text

    print(f"campaign {spec.name}: {spec.budget.trials} trials, {spec.budget.gpus} GPU slots, "
          f"{spec.workload.describe()}, results in {spec.output_dir}", flush=True)
    try:
        result = run_campaign(spec, resume=args.resume)
    except CampaignError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if result.already_finished:
        print(f"{result.folder} holds this campaign, already finished: nothing to run "
              "(to run it again, choose another output folder)")
    if result.trials:
        folder = CampaignFolder(result.folder)
        print()
        print(summary_text(result.folder))
        chart = render_chart(result.folder)
        print(f"\nchart: {chart}\nresults: {folder.levels_path}, {folder.trials_path}")
    print(f"wall time: {result.wall_s:.0f} s, status: {result.status}")
    if result.status != CampaignStatus.FINISHED:
        again = ["autotuner", "run", args.file, "--resume", *(["--output", args.output] if args.output else [])]
        print(f"resume with: {shlex.join(again)}")
        return EXIT_UNFINISHED
    if result.best is None:  # a script (or a Ray job's status) must tell this from an answer
        print(f"error: no answer: {why_no_answer(result.trials)}", file=sys.stderr)
        return EXIT_NO_ANSWER
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from autotuner.results.folder import CampaignFolder
    from autotuner.results.report import render_chart, summary_text

    from autotuner.campaign.folder_guard import FolderError, require_readable

    folder = Path(args.folder)
    if not CampaignFolder(folder).is_campaign():
        print(f"error: {folder} is not a campaign folder (no {CampaignFolder.META})", file=sys.stderr)
        return 1
    try:
        require_readable(folder)
    except FolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary_text(folder))
    print(f"\nchart: {render_chart(folder, Path(args.chart) if args.chart else None)}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    """Delete the Kubernetes objects a crashed run of a campaign left behind."""
    from autotuner.campaign.gc import collect_garbage
    from autotuner.campaign.start import campaign_id
    from autotuner.results.folder import CampaignFolder

    target = Path(args.campaign)
    folder = CampaignFolder(target) if target.is_dir() else None
    spec_file = folder.spec_path if folder else target
    spec, problems = load_spec(spec_file)
    if spec is None or problems:
        _print_problems(str(spec_file), problems)
        return EXIT_INVALID
    meta = (folder or CampaignFolder(spec.output_dir)).read_meta()
    cid = meta.id if meta is not None else campaign_id(spec)
    removed = collect_garbage(spec, cid)
    if removed is None:
        print(f"{spec.name}: backend {spec.engine.backend!r} leaves nothing on a cluster; nothing to do")
        return 0
    print(f"campaign {cid}: removed {len(removed)} object(s)" + "".join(f"\n  {r}" for r in removed))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Deploy the web app with Ray Serve and print where it is and its access token."""
    import importlib

    # By import path, as a KubeRay RayService would: autotuner never imports serve_app's code.
    launch = importlib.import_module("serve_app.launch")
    try:
        info = launch.start_ui(launch.UiOptions(
            workspace=Path(args.workspace), address=args.address, host=args.host, port=args.port, token=args.token,
            num_gpus=args.num_gpus, dashboard_url=args.dashboard_url, extra_roots=tuple(args.watch or ()),
            allow_commands=args.allow_commands))
    except launch.WeakTokenError as err:  # before any cluster started
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    for line in launch.access_lines(info, show_token=launch.token_may_be_printed(sys.stdout)):
        print(line)
    print(f"workspace:      {Path(args.workspace).expanduser().resolve()}")
    print(f"Ray dashboard:  {info.dashboard_url}")
    if info.started_cluster:
        print("started a local Ray cluster for it; stop both with: ray stop")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autotuner", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a task file and print every problem")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("plan", help="predict the search space with the simulator (no Ray, no GPU): best configs, "
                                    "those that cannot start, which parameters matter, GPU-hours")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--sample", type=_positive_int, default=SAMPLE_SIZE,
                   help=f"configs screened at most; a larger space is sampled (default {SAMPLE_SIZE})")
    p.add_argument("--calibrate", metavar="RUNS_FOLDER", help="fit the twin to the levels a campaign of this task "
                                                               "measured, and rank the configs it has not tried")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("run", help="run a tuning campaign")
    p.add_argument("file")
    p.add_argument("--resume", action="store_true", help="continue the interrupted campaign in the output folder")
    p.add_argument("--output", help="campaign folder (overrides the task's output)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="print a campaign's tables and write its chart")
    p.add_argument("folder")
    p.add_argument("--chart", help="PNG path (default FOLDER/report.png)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("gc", help="delete what a crashed campaign left on the cluster (OME backend)")
    p.add_argument("campaign", help="campaign folder, or the campaign's task file")
    p.set_defaults(func=cmd_gc)
    p = sub.add_parser("ui", help="deploy the web app on a Ray cluster (Ray Serve) and print its URL and token")
    p.add_argument("--address", help="Ray cluster to attach to (default $RAY_ADDRESS, else a running local one, "
                                     "else start one)")
    p.add_argument("--host", default="127.0.0.1", help="address the app listens on (default 127.0.0.1; "
                                                       "0.0.0.0 on a KubeRay head)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workspace", default="runs", help="folder of the campaigns (new ones go to WORKSPACE/NAME)")
    p.add_argument("--watch", action="append", help="another folder whose campaigns are listed (repeatable)")
    p.add_argument("--token", help="access token (default $AUTOTUNER_UI_TOKEN, else one stored in the workspace)")
    p.add_argument("--num-gpus", type=int, help="GPU slots of a cluster this command starts (default: the "
                                                "machine's GPUs, or 8 logical slots without any)")
    p.add_argument("--dashboard-url", help="the Ray dashboard as browsers reach it (for links)")
    p.add_argument("--allow-commands", action="store_true",
                   help="let tasks from the web run any command: engine.local.command/python/env, a real "
                        "engine's extra_args, engine.ome.command_override (the token then grants a shell on "
                        "the cluster as the user running Ray)")
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

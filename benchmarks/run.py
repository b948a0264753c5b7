"""Run the benchmark suite and write its report::

    python -m benchmarks.run --quick     # CI smoke run, < 3 min: small surface, 1-slot overhead
    python -m benchmarks.run --full      # the numbers: benchmarks/BENCHMARKS.md + benchmarks/results/
    python -m benchmarks.run --full --samplers   # also Optuna's other samplers behind our searcher
    python -m benchmarks.run --full --resume     # an interrupted run: surfaces already done are not run again
    python -m benchmarks.run --surface my-surface.yaml [--seeds 10] [--budget 200]   # your own surface
    python -m benchmarks.run --full --worlds-only --contenders ours_twin   # the hidden worlds alone, one contender

Writes ``BENCHMARKS.md`` (tables), ``runs.csv`` and ``trials.csv`` (every replayed campaign and
trial), ``worlds.csv`` (every campaign of the hidden worlds), ``overhead.csv`` and
``convergence.png`` (best-so-far gap against GPU-hours). Each surface's results are kept under
``<out>/partial/`` as soon as they are done (``--resume`` reuses them), and its tables printed.
``--worlds-only`` runs the mode's hidden worlds and nothing else (into ``<out>/worlds-only/``, so
the full report stays): a change to the guided search is measured there alone, with the contenders
it is compared with (``ours_twin`` on its own: about 40 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from ray import cloudpickle

from autotuner.search.samplers import RANDOM_EVERY
from autotuner.sim.version import simulator_version
from benchmarks.comparisons import INTERVAL_LEVEL, RESAMPLES
from benchmarks.noise import NoiseModel
from benchmarks.overhead import CaseResult, OverheadSettings, overhead_tables, run_overhead_benchmark
from benchmarks.overhead_phases import PHASES
from benchmarks.search_bench import SurfaceResult, run_search_benchmark
from benchmarks.search_report import (goals_table, ground_truth_table, md_table, plot_convergence, strategy_table,
                                      write_csvs)
from benchmarks.strategies import SAMPLER_CANDIDATES, STRATEGIES, WORLD_CONTENDERS, Strategy, strategy_named
from benchmarks.surface import Surface, load_surface
from benchmarks.trial_cost import GENAI_BENCH_START_S, LEVEL_START_S
from benchmarks.world_bench import WorldsResult, run_worlds_benchmark
from benchmarks.world_report import contender_table, world_goals, world_table, write_world_csv
from benchmarks.worlds import draw_world

BENCH_DIR = Path(__file__).resolve().parent
OVERHEAD_GOAL_S = 2.0
UTILISATION_GOAL = 0.90


@dataclass(frozen=True)
class Mode:
    name: str
    surfaces: tuple[str, ...]  # names under benchmarks/surfaces/, or surface files
    seeds: tuple[int, ...]
    budget: int  # trials per replayed campaign
    overhead: OverheadSettings | None  # None: no real campaigns
    out_dir: Path  # CSV files and the plot
    report: Path  # BENCHMARKS.md
    worlds: tuple[int, ...] = ()  # hidden worlds (benchmarks/worlds.py) the twin's contenders run in
    world_seeds: tuple[int, ...] = ()  # seeds per world


QUICK = Mode("quick", ("quick-llama8b-h100",), (0, 1, 2), 24,
             OverheadSettings(slots=(1,), waves=2, min_trials=2, startup_s=5.0, concurrency=(4, 16),
                              requests_per_level=24, timeout_s=300),
             BENCH_DIR / "results" / "quick", BENCH_DIR / "results" / "quick" / "BENCHMARKS.md",
             worlds=(0, 2), world_seeds=(0, 1))
FULL = Mode("full", ("llama8b-h100", "llama70b-8xh100", "qwen32b-h200-long", "prefix-qwen32b-h100", "vllm-qwen7b-h200",
                     "llama70b-8xh100-tight"), tuple(range(20)), 200,
            OverheadSettings(slots=(1, 2, 4), waves=3, min_trials=3, startup_s=30.0, concurrency=(4, 8, 16),
                             requests_per_level=48, timeout_s=900),
            BENCH_DIR / "results", BENCH_DIR / "BENCHMARKS.md", worlds=tuple(range(5)), world_seeds=tuple(range(4)))
SAMPLER_SEEDS = 5  # the sampler comparison runs on fewer seeds: Optuna's GPSampler takes seconds per trial


def surface_mode(path: Path, seeds: int, budget: int) -> Mode:
    """The strategy comparison on one surface file, into benchmarks/results/<surface name>/."""
    surface = load_surface(path)
    out = BENCH_DIR / "results" / surface.name
    return Mode(surface.name, (str(path),), tuple(range(seeds)), budget, None, out, out / "BENCHMARKS.md")


def progress(message: str) -> None:
    print(message, flush=True)  # flushed: the full run takes minutes and its output is often a file


T = TypeVar("T")


def per_surface(part: str, surfaces: Sequence[Surface], run: Callable[[Surface], T], out_dir: Path, resume: bool,
                table: Callable[[T], str]) -> list[T]:
    """``run`` on each surface in turn, each result kept in ``out_dir/partial/`` once done (and
    reused from there with ``resume``) and its table printed: a run of an hour loses at most the
    surface it was on."""
    results = []
    for surface in surfaces:
        path = out_dir / "partial" / f"{part}-{surface.name}.pickle"
        if resume and path.exists():
            progress(f"{part} on {surface.name}: reusing {path}")
            results.append(pickle.loads(path.read_bytes()))
            continue
        result = run(surface)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cloudpickle.dumps(result))  # strategies hold closures: pickled by value
        progress(f"{part} on {surface.name}:\n{table(result)}")
        results.append(result)
    return results


def run_search_part(mode: Mode, surfaces: Sequence[Surface], out_dir: Path, resume: bool,
                    strategies: Sequence[Strategy] = STRATEGIES, seeds: Sequence[int] | None = None,
                    part: str = "strategies") -> list[SurfaceResult]:
    def run(surface: Surface) -> SurfaceResult:
        return run_search_benchmark([surface], list(seeds or mode.seeds), mode.budget, strategies, NoiseModel(),
                                    progress=progress)[0]

    return per_surface(part, surfaces, run, out_dir, resume,
                       lambda r: strategy_table(r) if strategies is STRATEGIES else strategy_table(r, list(r.by_strategy)))


def run_worlds_part(mode: Mode, surfaces: Sequence[Surface], out_dir: Path, resume: bool,
                    contenders: Sequence[Strategy] = WORLD_CONTENDERS) -> list[WorldsResult]:
    def run(surface: Surface) -> WorldsResult:
        return run_worlds_benchmark([surface], [draw_world(i) for i in mode.worlds], mode.world_seeds, mode.budget,
                                    contenders, progress=progress)[0]

    return per_surface("worlds", surfaces, run, out_dir, resume, lambda r: f"{contender_table(r)}\n\n{world_table(r)}")


def write_overhead_csv(results: Sequence[CaseResult], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slots", "genai_bench_early_start", "trials", "campaign_wall_s", "held_s_per_trial",
                    "overhead_s_per_trial", "first_overhead_s", "reused_overhead_s", "load_share", "useful_share",
                    *(f"{p}_s_per_trial" for p in PHASES)])
        for r in results:
            w.writerow([r.slots, r.early_start, r.use.trials, f"{r.wall_s:.1f}", f"{r.use.mean['held']:.3f}",
                        f"{r.use.overhead_s:.3f}", f"{r.use.first_overhead_s:.3f}", f"{r.use.reused_overhead_s:.3f}",
                        f"{r.use.load_share:.4f}", f"{r.use.useful_share:.4f}",
                        *(f"{r.use.mean[p]:.3f}" for p in PHASES)])
    return path


def overhead_goals(results: Sequence[CaseResult], settings: OverheadSettings) -> str:
    rows = []
    after = [r for r in results if r.early_start]
    for r in after:
        rows.append([f"{r.slots} slot(s), genai-bench early",
                     f"orchestration overhead per trial <= {OVERHEAD_GOAL_S:g} s (trials reusing their slot's worker)",
                     f"{r.use.reused_overhead_s:.2f} s (all trials: {r.use.overhead_s:.2f} s; the first on each slot "
                     f"starts a Ray worker: {r.use.first_overhead_s:.2f} s)",
                     "met" if r.use.reused_overhead_s <= OVERHEAD_GOAL_S else "missed"])
    for r in after:
        if r.slots == 4:
            for name, share in (("load / held", r.use.load_share), ("(start-up + load) / held", r.use.useful_share)):
                rows.append([f"4 slots, start-up {settings.startup_s:g} s", f"slot utilisation >= {UTILISATION_GOAL:.0%} ({name})",
                             f"{share:.1%}", "met" if share >= UTILISATION_GOAL else "missed"])
    return md_table(["case", "goal", "measured", ""], rows)


def noise_section() -> list[str]:
    """The measured spread behind the noise model (``python -m benchmarks.measure_noise``)."""
    path = BENCH_DIR / "results" / "noise.csv"
    model = NoiseModel()
    lines = ["## Measurement noise", "",
             "Every replayed level is read through `benchmarks/noise.py`: multiplicative lognormal noise with "
             f"sigma {model.throughput_sigma:.1%} on throughput, {model.ttft_sigma:.1%} on p90 TTFT and "
             f"{model.latency_sigma:.1%} on p90 TPOT, and a {model.outlier_rate:.0%} chance per level of an outlier "
             f"({model.outlier_throughput:g}x throughput, {model.outlier_latency:g}x latencies; an assumption). "
             "The sigmas round up the spread of repeated identical levels of real genai-bench against the "
             "wall-clock simulator on this machine:", ""]
    if not path.exists():
        return lines + ["(not measured yet: `python -m benchmarks.measure_noise`)", ""]
    with open(path) as f:
        rows = list(csv.DictReader(f))
    lines.append(md_table(["metric", "mean", "coefficient of variation", "repeats", "level"],
                          [[r["metric"], r["mean"], f"{float(r['cv']):.1%}", r["repeats"],
                            f"c={r['concurrency']} {r['scenario']}, {r['mean_duration_s']} s"] for r in rows]))
    lines += ["", "Command: `python -m benchmarks.measure_noise` (results/noise.csv)."]
    jitter = BENCH_DIR / "results" / "gpu-jitter.csv"
    if jitter.exists():
        with open(jitter) as f:
            row = next(csv.DictReader(f))
        lines += ["", f"The GPU's own jitter, for identical stretches of Llama-3.1-8B-shaped decode work "
                  f"({row['levels']} levels of {row['steps']} steps at batch {row['batch']}): coefficient of variation "
                  f"{float(row['cv']):.2%} on an {row['gpu']} (`python -m benchmarks.measure_gpu_jitter`, run on the "
                  "GPU machine lent to this session; results/gpu-jitter.csv)."]
    return lines + [""]


def web_latency_section() -> list[str]:
    """The web app at scale (``python benchmarks/web_latency.py``, results/web-latency.json)."""
    path = BENCH_DIR / "results" / "web-latency.json"
    if not path.exists():
        return []
    w = json.loads(path.read_text())
    upd = w["update_latency_s"]
    rows = [[f"page load ({kind}, {load['n']} loads): first table row", f"{load['table']['median']:.2f}",
             f"{load['table']['max']:.2f}", "<= 2 s", "met" if load["table"]["max"] <= 2 else "missed"]
            for kind, load in w["page_load_s"].items()]
    rows += [[f"page load ({kind}): charts drawn", f"{load['charts']['median']:.2f}", f"{load['charts']['max']:.2f}",
              "", ""] for kind, load in w["page_load_s"].items()]
    rows.append([f"report -> visible in the page ({upd['n']} updates; p90 {upd['p90']:.2f} s)",
                 f"{upd['median']:.2f}", f"{upd['max']:.2f}", "median <= 1 s, p90 <= 2 s",
                 "met" if upd["median"] <= 1 and upd["p90"] <= 2 else "missed"])
    return [f"## Web app at {w['trials']:,} trials", "",
            "A synthetic live campaign served by the web app on Ray Serve, measured in Debian's Chromium "
            "(`python benchmarks/web_latency.py`, results/web-latency.json; run separately from `--full`).", "",
            md_table(["measure", "median (s)", "max (s)", "goal", ""], rows), ""]


def worlds_section(mode: Mode, worlds: Sequence[WorldsResult]) -> list[str]:
    """The twin in hidden worlds: contenders per surface, per world, and issue 23's goals."""
    if not worlds:
        return []
    drawn = [draw_world(i) for i in mode.worlds]
    lines = ["## The twin in hidden worlds", "",
             f"The replay's real engine is the simulator with hidden, systematic changes, drawn per world "
             f"(`benchmarks/worlds.py`); the twin is always the unchanged simulator and learns a world only "
             f"from the levels its campaign measures. {len(drawn)} worlds x {len(mode.world_seeds)} seeds per "
             f"surface, {mode.budget} trials per campaign, noise on; the twin alone deploys its predicted best "
             "once per world. A surface marked `world_slo: scaled` keeps its SLO at the same distance from the "
             "engine in every world (its TPOT limit x the world's decode factor, TTFT x its prefill factor).", "",
             md_table(["world", "the real engine vs the simulator"], [[str(w.index), w.describe()] for w in drawn]), ""]
    for result in worlds:
        lines += [f"### {result.surface.title}", "", contender_table(result), "", world_table(result), ""]
        lines += [f"Left out: {w.name} ({w.describe()}): no config meets the SLOs there." for w in result.infeasible]
        lines += [""] if result.infeasible else []
    lines += ["### Goals: the twin", "",
              "Medians over every world x seed; the worst world is the one where the twin's median GPU-hours to "
              "3% are the largest share of the median without it.", "", world_goals(worlds), ""]
    return lines


def header(command: str, elapsed_s: float, report: Path) -> list[str]:
    """The first lines of the ``report``: how it was made, and where the method is."""
    method = os.path.relpath(BENCH_DIR / "README.md", report.parent)
    return [f"Generated by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, simulator {simulator_version()}, {elapsed_s:.0f} s). "
            f"Method: [benchmarks/README.md]({method}). Everything below comes from the simulator (a model of "
            "SGLang, not SGLang); GPU-hours are modelled.", ""]


def render(mode: Mode, search: Sequence[SurfaceResult], samplers: Sequence[SurfaceResult],
           overhead: Sequence[CaseResult] | None, plot_name: str, elapsed_s: float, command: str,
           worlds: Sequence[WorldsResult] = (), report: Path = BENCH_DIR / "BENCHMARKS.md") -> str:
    lines = [
        "# Benchmarks",
        "",
        *header(command, elapsed_s, report),
        "## Ground truth",
        "",
        ground_truth_table(search),
        "",
        f"A config's true score is its goodput per GPU at its exact SLO boundary, noise-free. Trial cost: GPUs x "
        f"(max(modelled start-up, {GENAI_BENCH_START_S:g} s of genai-bench imports) + per level its measured "
        f"run_duration, cut at the time limit, + {LEVEL_START_S:g} s); a start-up failure holds its GPUs for the "
        "modelled seconds before it fails; a rejected config costs nothing. With early stopping, a level above a "
        "passing one ends at the request that proves it breaks a p90 SLO (the simulator's own requests, in the "
        "order they ended); without it, every level runs to its end.",
        "",
        *noise_section(),
        f"## Search strategies: {mode.budget} trials per campaign, seeds {mode.seeds[0]}-{mode.seeds[-1]}, noise on",
        "",
        "Each cell is the median over seeds with [min-max]; `never` = not within the budget (for the median: "
        "half the seeds or more). The search's best is what `pick_best` returns from the trials' own (noisy) "
        "measurements; the answer is what the campaign recommends after re-measuring the best 3 configs; both are "
        "judged by the true score.",
        "",
    ]
    for result in search:
        lines += [f"### {result.surface.title}", "", strategy_table(result), ""]
    lines += [f"![convergence]({plot_name})", ""]
    lines += worlds_section(mode, worlds)
    if samplers:
        lines += ["## Samplers: which one is the default", "",
                  f"Optuna's samplers behind the same searcher, early stopping and re-measurement, "
                  f"{len(samplers[0].seeds)} seeds, {samplers[0].budget} trials; `ours` is the default (TPE, every {RANDOM_EVERY}th trial drawn at random, "
                  "multivariate, grouped, constant liar, infeasibility as a constraint).", ""]
        for result in samplers:
            lines += [f"### {result.surface.title}", "", strategy_table(result, list(result.by_strategy)), ""]
    lines += ["## Goals: search", "",
              f"The ratios' intervals are {INTERVAL_LEVEL:.0%} bootstrap intervals over seeds ({RESAMPLES} resamples of "
              "the seeds, each keeping its runs of both strategies): how far the median ratio could move with other "
              "seeds.", "", goals_table(search), ""]
    if overhead is not None and mode.overhead is not None:
        lines += ["## Orchestration overhead on the real path", "",
                  f"Real campaigns (Ray Tune, local backend, simulator, genai-bench) of 1-GPU trials whose simulated "
                  f"engine start-up is {mode.overhead.startup_s:g} s, levels at concurrency "
                  f"{', '.join(map(str, mode.overhead.concurrency))} with {mode.overhead.requests_per_level} requests; "
                  "genai-bench started after the engine is ready (late) or while it starts (early, the default).", "",
                  overhead_tables(overhead, mode.overhead), "", "## Goals: orchestration", "",
                  overhead_goals(overhead, mode.overhead), ""]
    if mode is FULL:
        lines += web_latency_section()
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--quick", action="store_const", const=QUICK, dest="mode")
    which.add_argument("--full", action="store_const", const=FULL, dest="mode")
    which.add_argument("--surface", type=Path, help="a surface file: the strategy comparison on it alone")
    parser.add_argument("--seeds", type=int, default=10, help="with --surface: seeds 0..N-1")
    parser.add_argument("--budget", type=int, default=200, help="with --surface: trials per campaign")
    parser.add_argument("--skip-overhead", action="store_true", help="only the search strategies (no Ray)")
    parser.add_argument("--samplers", action="store_true",
                        help="also compare Optuna's other samplers behind our searcher (needs scipy, cmaes, torch)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the surfaces an interrupted run finished (<out>/partial/; same code and settings)")
    parser.add_argument("--worlds-only", action="store_true",
                        help="with --quick or --full: only the hidden worlds, into <out>/worlds-only/")
    parser.add_argument("--contenders", help="with --worlds-only: comma-separated contenders (default: all of "
                        f"{', '.join(s.name for s in WORLD_CONTENDERS)})")
    parser.add_argument("--out", type=Path, help="folder of the CSV files and the plot")
    parser.add_argument("--report", type=Path, help="where BENCHMARKS.md goes")
    args = parser.parse_args(argv)
    mode: Mode = args.mode or surface_mode(args.surface, args.seeds, args.budget)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    out_dir = args.out or mode.out_dir
    report = args.report or (out_dir / "BENCHMARKS.md" if args.out else mode.report)
    t0 = time.monotonic()
    surfaces = [load_surface(name) for name in mode.surfaces]
    if args.worlds_only:
        return worlds_only(mode, surfaces, args.out or mode.out_dir / "worlds-only", args, command, t0)
    search = run_search_part(mode, surfaces, out_dir, args.resume)
    worlds = run_worlds_part(mode, surfaces, out_dir, args.resume) if mode.worlds else []
    samplers = (run_search_part(mode, surfaces, out_dir, args.resume, (STRATEGIES[0], *SAMPLER_CANDIDATES),
                                mode.seeds[:SAMPLER_SEEDS], part="samplers") if args.samplers else [])
    out_dir.mkdir(parents=True, exist_ok=True)
    files = write_csvs(search, out_dir)
    if worlds:
        files.append(write_world_csv(worlds, out_dir / "worlds.csv"))
    files.append(plot_convergence(search, out_dir / "convergence.png"))
    overhead = None
    if mode.overhead is not None and not args.skip_overhead:
        campaigns = out_dir / "overhead-campaigns"  # the real campaigns' folders, kept for inspection
        shutil.rmtree(campaigns, ignore_errors=True)
        overhead = run_overhead_benchmark(mode.overhead, campaigns, progress)
        files.append(write_overhead_csv(overhead, out_dir / "overhead.csv"))
    plot_name = os.path.relpath(out_dir / "convergence.png", report.parent)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render(mode, search, samplers, overhead, plot_name, time.monotonic() - t0, command, worlds,
                             report))
    progress(f"wrote {report} and {', '.join(str(f) for f in files)}")
    return 0


def worlds_only(mode: Mode, surfaces: Sequence[Surface], out_dir: Path, args: argparse.Namespace, command: str,
                t0: float) -> int:
    """The mode's hidden worlds alone, for the contenders asked: ``worlds.csv`` and a report of that section."""
    if not mode.worlds:
        raise SystemExit("--worlds-only: this mode has no hidden worlds (use --quick or --full)")
    try:
        contenders = ([strategy_named(name.strip()) for name in args.contenders.split(",")] if args.contenders
                      else list(WORLD_CONTENDERS))
    except KeyError as err:
        raise SystemExit(f"--contenders: {err.args[0]}; allowed: {', '.join(s.name for s in WORLD_CONTENDERS)}")
    worlds = run_worlds_part(mode, surfaces, out_dir, args.resume, contenders)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = write_world_csv(worlds, out_dir / "worlds.csv")
    report = args.report or out_dir / "BENCHMARKS.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(["# Benchmarks: the hidden worlds", "", *header(command, time.monotonic() - t0, report),
                                 *worlds_section(mode, worlds)]))
    progress(f"wrote {report} and {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The quick mode's search-strategy part, end to end (what CI runs): it must work, not be fast."""

from __future__ import annotations

import csv
import re
import time

import pytest

from benchmarks.run import BENCH_DIR, QUICK, main
from benchmarks.strategies import STRATEGIES


def test_quick_mode_writes_its_report(tmp_path, capsys):
    started = time.monotonic()
    assert main(["--quick", "--skip-overhead", "--out", str(tmp_path)]) == 0
    print(f"quick search benchmark: {time.monotonic() - started:.1f} s")

    report = (tmp_path / "BENCHMARKS.md").read_text()
    for strategy in STRATEGIES:
        assert strategy.label in report
    assert "## Goals: search" in report and "Orchestration overhead" not in report
    with open(tmp_path / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    seeded = sum(s.seeded for s in STRATEGIES)
    assert len(runs) == seeded * len(QUICK.seeds) + (len(STRATEGIES) - seeded) + 1  # + grid over the space
    assert all(0.0 <= float(r["final_gap"]) <= 1.0 for r in runs)
    whole = next(r for r in runs if r["strategy"] == "grid_whole_space")
    assert float(whole["final_gap"]) == 0.0  # trying everything finds the optimum
    assert (tmp_path / "trials.csv").stat().st_size > 0
    assert (tmp_path / "convergence.png").read_bytes()[:4] == b"\x89PNG"

    # each surface's results were kept as they finished: --resume rebuilds the same report from them
    assert sorted(p.name for p in (tmp_path / "partial").iterdir()) == [
        "strategies-quick-llama8b-h100.pickle", "worlds-quick-llama8b-h100.pickle"]
    before = (tmp_path / "runs.csv").read_text()
    capsys.readouterr()
    assert main(["--quick", "--skip-overhead", "--resume", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("reusing") == 2
    assert (tmp_path / "runs.csv").read_text() == before


def test_worlds_only_runs_the_hidden_worlds_of_the_contenders_asked(tmp_path):
    assert main(["--quick", "--worlds-only", "--contenders", "twin_alone", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "BENCHMARKS.md").read_text()
    assert "## The twin in hidden worlds" in report and "## Search strategies" not in report
    method = re.search(r"Method: \[benchmarks/README.md\]\(([^)]+)\)", report).group(1)
    assert (tmp_path / method).resolve() == (BENCH_DIR / "README.md").resolve()  # the link works from the report
    with open(tmp_path / "worlds.csv") as f:
        runs = list(csv.DictReader(f))
    assert {r["strategy"] for r in runs} == {"twin_alone"} and len(runs) == len(QUICK.worlds)  # deterministic: once per world
    assert sorted(p.name for p in (tmp_path / "partial").iterdir()) == ["worlds-quick-llama8b-h100.pickle"]


def test_worlds_only_names_the_allowed_contenders():
    with pytest.raises(SystemExit, match="--contenders: no strategy named 'ours_twn'; allowed: twin_alone, ours_twin"):
        main(["--quick", "--worlds-only", "--contenders", "ours_twn"])

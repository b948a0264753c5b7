"""The fast path's agreement with the discrete-event simulator over the quickstart's space holds the
bound docs/twin.md states (measured on 1,000 configs: rank correlation 0.993, goodput per GPU off by
0.8% median, 8.5% at the 90th percentile; boundary load 1.1% median, 2.6% at the 90th percentile)."""

from __future__ import annotations

from autotuner.task.space import SearchSpace
from autotuner.task.load import load_spec
from autotuner.twin.agreement import fast_path_agreement, spearman
from autotuner.twin.grid import configs_to_screen

from tests.twin.test_cli_plan import REPO


def test_fast_path_agrees_with_the_simulator_over_the_quickstart_space():
    spec, _ = load_spec(REPO / "examples" / "quickstart.yaml")
    configs, _ = configs_to_screen(SearchSpace.from_spec(spec), limit=150, seed=11)
    figures = fast_path_agreement(spec, configs)
    assert figures.configs == len(configs) and figures.feasible > 100
    assert figures.same_outcome == 1.0
    assert figures.rank_correlation >= 0.97
    assert figures.score_error_median <= 0.03 and figures.score_error_p90 <= 0.15
    assert figures.boundary_error_median <= 0.03 and figures.boundary_error_p90 <= 0.15


def test_spearman_of_ties_and_reversals():
    assert spearman([1, 2, 3], [10, 20, 30]) == 1.0
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert spearman([0, 0, 5], [0, 0, 7]) == 1.0

"""How well the fast path agrees with the discrete-event simulator over a set of configs: the
figures docs/twin.md states and ``tests/twin/test_agreement.py`` holds to a bound.

    figures = fast_path_agreement(spec, configs)
    figures.rank_correlation, figures.score_error_median, figures.boundary_error_p90

The figures of docs/twin.md come from the command (the quickstart's 1,000-config sample, seed 0)::

    python -m autotuner.twin.agreement examples/quickstart.yaml --sample 1000
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from autotuner.task.spec import TaskSpec
from autotuner.twin.predict import Model, Twin


@dataclass(frozen=True)
class AgreementFigures:
    """The fast path against the simulator: Spearman's rank correlation of goodput per GPU over
    every config (0 for those that cannot start or meet no SLO), and relative errors of goodput per
    GPU and of each scenario's boundary load over the configs the simulator finds feasible."""

    configs: int
    feasible: int
    same_outcome: float  # share of configs whose outcome (ok, slo missed, ...) both predict alike
    rank_correlation: float
    score_error_median: float
    score_error_p90: float
    score_error_max: float
    boundary_error_median: float
    boundary_error_p90: float
    boundary_error_max: float

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def fast_path_agreement(spec: TaskSpec, configs: Sequence[dict[str, Any]]) -> AgreementFigures:
    """Predict every config with both models and compare."""
    twin = Twin(spec)
    fast = [twin.predict(c, Model.STEADY) for c in configs]
    full = [twin.predict(c, Model.SIMULATOR) for c in configs]
    pairs = [(f, s) for f, s in zip(fast, full) if s.score > 0]
    score_errors = sorted(abs(f.score - s.score) / s.score for f, s in pairs)
    boundary_errors = sorted(abs(fb - sb) / sb for f, s in pairs
                             for (_, fb), (_, sb) in zip(f.boundary, s.boundary) if sb > 0)
    return AgreementFigures(
        configs=len(configs), feasible=len(pairs),
        same_outcome=sum(f.outcome is s.outcome for f, s in zip(fast, full)) / len(configs),
        rank_correlation=spearman([f.score for f in fast], [s.score for s in full]),
        score_error_median=_quantile(score_errors, 0.5), score_error_p90=_quantile(score_errors, 0.9),
        score_error_max=max(score_errors, default=0.0), boundary_error_median=_quantile(boundary_errors, 0.5),
        boundary_error_p90=_quantile(boundary_errors, 0.9), boundary_error_max=max(boundary_errors, default=0.0))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their mean rank); 1.0 when either side is constant
    and both are."""
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else float(ra == rb)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[round(q * 100) - 1] \
        if len(sorted_values) > 1 else (sorted_values[0] if sorted_values else 0.0)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import json

    from autotuner.task.load import load_spec
    from autotuner.task.paths import resolve_here
    from autotuner.task.space import SearchSpace
    from autotuner.twin.grid import configs_to_screen

    parser = argparse.ArgumentParser(prog="python -m autotuner.twin.agreement", description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("--sample", type=int, default=1000, help="configs compared (a stratified sample)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec, problems = load_spec(args.task)
    if spec is None or problems:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    spec = resolve_here(spec)
    configs, _ = configs_to_screen(SearchSpace.from_spec(spec), args.sample, args.seed)
    print(json.dumps(fast_path_agreement(spec, configs).to_dict(), indent=2))
    return 0


__all__ = ["AgreementFigures", "fast_path_agreement", "main", "spearman"]

if __name__ == "__main__":
    sys.exit(main())

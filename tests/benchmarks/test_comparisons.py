"""The bootstrap intervals of the benchmark's ratios of medians (pure, no replay)."""

import math

import pytest

from benchmarks.comparisons import bootstrap_ratio_interval


def test_the_interval_holds_the_ratio_of_medians_and_widens_with_spread():
    ours = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    same_shape = [2 * v for v in ours]
    assert bootstrap_ratio_interval(ours, same_shape) == (0.5, 0.5)  # paired: every resample has ratio 0.5
    shuffled = [20.0, 2.0, 14.0, 8.0, 18.0, 4.0, 16.0, 6.0, 12.0, 10.0]
    low, high = bootstrap_ratio_interval(ours, shuffled)
    assert low < 0.5 < high
    assert high - low > 0.2


def test_seeds_that_never_got_there_count_as_infinitely_large():
    ours = [1.0, 1.0, 1.0, None, None]
    other = [2.0, 2.0, 2.0, 2.0, 2.0]
    low, high = bootstrap_ratio_interval(ours, other)
    assert low == 0.5
    assert math.isinf(high)  # resamples with mostly never-reached seeds of ours
    low, high = bootstrap_ratio_interval(other, ours)
    assert low == 0.0  # ours' median never reached in those resamples: the other strategy's ratio is 0
    assert high == 2.0  # resamples where ours met it in most seeds: median 2 / 1


def test_the_interval_is_reproducible_and_needs_paired_values():
    a, b = [3.0, 1.0, 4.0, 1.0, 5.0], [9.0, 2.0, 6.0, 5.0, 3.0]
    assert bootstrap_ratio_interval(a, b) == bootstrap_ratio_interval(a, b)
    with pytest.raises(ValueError, match="paired"):
        bootstrap_ratio_interval(a, b[:4])
    with pytest.raises(ValueError, match="paired"):
        bootstrap_ratio_interval([], [])

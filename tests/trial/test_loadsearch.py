"""The load search: grow until an SLO breaks or throughput saturates, then narrow to the resolution."""

from autotuner.trial.loadsearch import LoadBounds, Probe, boundary, next_load

BOUNDS = LoadBounds(min=1, max=256, start=8, resolution=0.1)


def run(bounds: LoadBounds, true_boundary: int, throughput=lambda c: 100.0 * c, first: int | None = None) -> list[int]:
    """Drive the search against a config that meets the SLOs up to ``true_boundary``."""
    probes: list[Probe] = []
    while (load := next_load(bounds, probes, first)) is not None:
        probes.append(Probe(load, load <= true_boundary, throughput(load)))
        assert len(probes) < 30
    return [p.load for p in probes]


def test_grows_then_narrows_to_the_resolution():
    loads = run(BOUNDS, true_boundary=50)
    assert loads[:4] == [8, 16, 32, 64]
    lo, hi = boundary([Probe(c, c <= 50, 0) for c in loads])
    assert lo <= 50 < hi and hi <= lo * 1.1 + 1


def test_starts_at_the_hint_and_goes_down_when_it_fails():
    loads = run(BOUNDS, true_boundary=5, first=40)
    assert loads[:4] == [40, 36, 30, 21]  # /1.1, /1.2, /1.4 to the nearest load, then faster
    lo, hi = boundary([Probe(c, c <= 5, 0) for c in loads])
    assert lo == 5 and hi == 6


def test_a_boundary_next_to_the_hint_takes_two_or_three_levels():
    """One step of the resolution either way tells whether the config beats the best trial's
    boundary load, ties it or falls short of it."""
    assert run(BOUNDS, true_boundary=11, first=11) == [11, 12]
    assert run(BOUNDS, true_boundary=10, first=11) == [11, 10]
    assert run(BOUNDS, true_boundary=53, first=53) == [53, 58]
    assert run(BOUNDS, true_boundary=30, first=30) == [30, 33]
    assert run(BOUNDS, true_boundary=52, first=53) == [53, 48, 50]  # 53 / 1.1 = 48.2: 48 and 53 are 10.4% apart


def test_the_first_step_down_from_the_hint_is_a_full_resolution_step():
    """Rounded to the nearest load, not up: a config failing at 32 and at 29 is bounded by what it made
    at 29, about 29/32 of its throughput at 32 when its latency is flat, a step the bound rule can tell
    from a tie (:mod:`autotuner.stopping.bound`); 30, rounded up, is 6% below 32."""
    assert run(BOUNDS, true_boundary=5, first=32)[:2] == [32, 29]
    assert run(BOUNDS, true_boundary=5, first=16)[:2] == [16, 15]  # 16 / 1.1 = 14.55: the nearest load is 15


def test_stops_when_throughput_saturates():
    loads = run(BOUNDS, true_boundary=1000, throughput=lambda c: 100.0 * min(c, 20))
    assert loads == [8, 16, 32, 64]  # 32 -> 64 raised throughput by less than 5%


def test_stops_at_the_maximum_and_when_even_the_minimum_fails():
    assert run(LoadBounds(min=1, max=64, start=16), true_boundary=10**6)[-1] == 64
    assert run(BOUNDS, true_boundary=0) == [8, 4, 2, 1]


def test_never_measures_a_load_twice():
    loads = run(LoadBounds(min=1, max=512, start=3, resolution=0.01), true_boundary=7)
    assert len(loads) == len(set(loads))


def test_a_failure_below_a_pass_is_noise():
    assert boundary([Probe(16, False, 0), Probe(24, True, 0), Probe(32, False, 0)]) == (24, 32)


def test_growth_from_the_hint_starts_small_and_accelerates():
    loads = run(BOUNDS, true_boundary=1000, first=16)
    assert loads[:7] == [16, 17, 20, 28, 50, 100, 200]  # +1 user (x1.1 rounds down), x1.2, x1.4, x1.8, then the full x2

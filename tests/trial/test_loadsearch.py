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


def test_from_a_predicted_load_the_steps_down_follow_the_measured_ttft():
    """The twin's prediction is no measured boundary: a level whose p90 TTFT is 40% over its limit
    there steps down 40% at once (past saturation TTFT grows about in proportion to the load), by
    less than 10% the resolution's step, by more than the growth the growth's."""
    def first_step(excess: float) -> int | None:
        return next_load(BOUNDS, [Probe(90, False, 9000.0, excess)], first=90, predicted=True)

    assert [first_step(e) for e in (1.4, 1.03, 3.0)] == [64, 82, 45]
    assert next_load(BOUNDS, [Probe(90, False, 9000.0, 1.4)], first=90) == 82  # a measured hint: 10% first
    # where TPOT (or errors) bind, no ratio is given: the steps are those from a measured hint
    failing = [Probe(90, False, 9000.0, None), Probe(82, False, 8200.0, None)]
    assert [next_load(BOUNDS, failing[:n], first=90, predicted=True) for n in (1, 2)] == [82, 68]
    # up from a passing prediction the steps stay small: latency has a floor below saturation
    assert next_load(BOUNDS, [Probe(90, True, 9000.0, 0.3)], first=90, predicted=True) == 99


def test_a_predicted_start_far_off_still_ends_at_the_resolution_in_fewer_levels():
    def search(predicted: bool) -> list[Probe]:
        probes: list[Probe] = []
        while (load := next_load(BOUNDS, probes, first=90, predicted=predicted)) is not None:
            probes.append(Probe(load, load <= 37, 100.0 * load, ttft_excess=load / 37))  # TTFT in proportion to load
            assert len(probes) < 30
        return probes

    guided, stepped = search(True), search(False)
    assert [p.load for p in guided[:3]] == [90, 45, 37]  # x2 at most (the growth), then 45 / 1.22
    assert boundary(guided) == (37, 39)  # located to the resolution as from a measured hint
    assert boundary(stepped)[1] == 39
    assert len(guided) < len(stepped)

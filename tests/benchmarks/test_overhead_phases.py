"""Splitting a trial's slot time into phases, from its timestamps."""

from __future__ import annotations

import pytest

from benchmarks.overhead_phases import TrialTimes, phase_seconds, slot_labels, slot_use


def times(trial_id: str, slot: str | None, t0: float, worker: int = 0) -> TrialTimes:
    """A trial whose worker starts at t0: 4 s of Ray, 30.5 s engine, two 10 s levels 1 s apart."""
    return TrialTimes(trial_id=trial_id, slot=slot, process_started=t0, setup_started=t0 + 4,
                      deploy_started=t0 + 4.5, engine_ready=t0 + 35, first_step=t0 + 35.2,
                      level_starts=(t0 + 40.2, t0 + 51.2), level_ends=(t0 + 50.2, t0 + 61.2),
                      cleanup_started=t0 + 61.7, cleanup_ended=t0 + 62.0, worker=worker)


def test_phases_of_a_slot_s_first_and_second_trial():
    first, second = phase_seconds([times("a", "0", 0.0), times("b", "0", 61.0)], modelled_startup_s=30.0)

    assert first == pytest.approx({"ray": 4, "setup": 0.5, "engine": 30, "engine+": 0.5, "to_step": 0.2,
                                   "bench_start": 5, "load": 20, "gaps": 1, "stop": 0.5, "teardown": 0.3,
                                   "held": 62, "first": 1})
    # The second trial's slot time starts when the first released the slot (62), not at its worker's start.
    assert second["ray"] == pytest.approx(61 + 4 - 62) and second["held"] == pytest.approx(61)
    assert second["first"] == 0  # it reused the slot's worker


def test_slots_are_accounted_separately():
    a, b = phase_seconds([times("a", "0", 0.0), times("b", "1", 1.0)], modelled_startup_s=30.0)
    assert a["ray"] == b["ray"] == pytest.approx(4)


def test_shares_of_slot_time():
    use = slot_use(phase_seconds([times("a", "0", 0.0)], modelled_startup_s=30.0))
    assert use.overhead_s == use.first_overhead_s == pytest.approx(62 - 30 - 20)
    assert use.load_share == pytest.approx(20 / 62)
    assert use.useful_share == pytest.approx(50 / 62)


def test_overhead_of_trials_that_reused_their_worker():
    use = slot_use(phase_seconds([times("a", "0", 0.0), times("b", "0", 58.1)], modelled_startup_s=30.0))
    # b's worker was a's: no start (58.1 + 4 = 62.1, a released at 62): 0.1 s of Ray, 8.1 s in all
    assert use.first_overhead_s == pytest.approx(12) and use.reused_overhead_s == pytest.approx(8.1)
    assert use.overhead_s == pytest.approx((12 + 8.1) / 2)


def test_simulated_slots_follow_the_workers():
    """Simulated slots have no GPU ids: two slots, workers 1 and 2 start together; worker 1 runs a
    second trial (reused); worker 3 starts after worker 2's trial ended and takes its slot."""
    trials = [times("a", None, 0.0, worker=1), times("b", None, 0.5, worker=2),
              times("c", None, 58.1, worker=1), times("d", None, 63.0, worker=3)]
    assert slot_labels(trials, slots=2) == ["sim0", "sim1", "sim0", "sim1"]
    a, b, c, d = phase_seconds(trials, modelled_startup_s=30.0, slots=2)
    assert a["ray"] == b["ray"] == pytest.approx(4)  # each slot's first trial: from its worker's start
    assert c["first"] == 0 and c["ray"] == pytest.approx(58.1 + 4 - 62)
    # d's worker started on b's freed slot: its slot time counts from b's release (62.5), Ray's start included
    assert d["first"] == 1 and d["ray"] == pytest.approx(63 + 4 - 62.5) and d["held"] == pytest.approx(63 + 62 - 62.5)

"""Calibration from measured levels: hidden step-time factors are recovered, errors shrink, and the
unchanged simulator calibrates to (nearly) nothing."""

from __future__ import annotations

import pytest

from autotuner.sim import evaluate_level, plan_memory
from autotuner.twin.calibrate import calibration_report, fit
from autotuner.twin.predict import Twin
from autotuner.twin.steady import Calibration
from tests.twin.test_guide import task

CONFIGS = [
    {"tp_size": 1, "max_running_requests": 128, "chunked_prefill_size": 8192, "disable_cuda_graph": False},
    {"tp_size": 1, "max_running_requests": 16, "chunked_prefill_size": 1024, "disable_cuda_graph": True},
    {"tp_size": 2, "max_running_requests": 64, "chunked_prefill_size": 8192, "disable_cuda_graph": False},
]
LOADS = (4, 16, 48)


def world_levels(twin: Twin, hidden: Calibration):
    """What an engine whose steps differ from the simulator's by ``hidden`` measures (the
    discrete-event simulator with its step costs stretched, as in the benchmarks' worlds)."""
    out = []
    for config in CONFIGS:
        args = twin.args(config)
        plan = plan_memory(args)
        out += [(config, evaluate_level(args, "D(128,32)", c, twin.sizing(c), plan=plan,
                                        cost_scale=hidden.scale).to_level_result()) for c in LOADS]
    return out


def test_hidden_step_time_factors_are_recovered_and_the_error_shrinks():
    twin = Twin(task())
    hidden = Calibration(decode=1.6, prefill=0.8, cpu_overhead=1.5)
    observations = world_levels(twin, hidden)
    fitted = fit(twin, observations)
    assert fitted.decode == pytest.approx(1.6, rel=0.15)
    assert fitted.prefill == pytest.approx(0.8, rel=0.3)
    # a refit from the previous calibration (what a campaign does level after level) lands there too
    again = fit(twin, observations, previous=fit(twin, observations[:3]))
    assert again.decode == pytest.approx(fitted.decode, rel=0.1)
    report = calibration_report(twin, observations, fitted)
    assert report.levels == len(observations)
    assert report.before["tpot_p90_s"] > 0.3 and report.after["tpot_p90_s"] < 0.05
    assert report.after["output_tok_s"] < report.before["output_tok_s"]
    assert "before" in report.line() and "after" in report.line()


def test_the_unchanged_simulator_needs_almost_no_calibration():
    twin = Twin(task())
    observations = []
    for config in CONFIGS:
        args = twin.args(config)
        plan = plan_memory(args)
        observations += [(config, evaluate_level(args, "D(128,32)", c, twin.sizing(c), plan=plan).to_level_result())
                         for c in LOADS]
    fitted = fit(twin, observations)
    assert fitted.decode == pytest.approx(1.0, rel=0.1) and fitted.prefill == pytest.approx(1.0, rel=0.35)


def test_no_usable_level_leaves_the_twin_as_it_is():
    assert fit(Twin(task()), []) == Calibration()

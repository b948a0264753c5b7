"""``predicted_behaviour``: which configs the twin predicts to behave alike. No Ray."""

from __future__ import annotations

from autotuner.task.load import require_valid
from autotuner.trial.directive import TrialDirective
from autotuner.twin.alike import predicted_behaviour

from tests.twin.test_plan import TASK


def config(tp_size, mem_fraction_static, max_running_requests=128):
    return {"tp_size": tp_size, "mem_fraction_static": mem_fraction_static,
            "max_running_requests": max_running_requests, "disable_cuda_graph": False}


def test_a_memory_fraction_the_traffic_never_fills_does_not_tell_two_configs_apart():
    alike = predicted_behaviour(require_valid(TASK))

    # tp 2 holds the short requests' cache in 15% of the memory as well as in 85%.
    assert alike(config(2, 0.15)) == alike(config(2, 0.85))
    # Tune's config (with the trial's directive) is the same config as its engine parameters.
    assert alike(TrialDirective.remeasure("s1", {"D(128,32)": 140}, 3).into(config(2, 0.15))) == alike(config(2, 0.85))
    # What binds tells them apart: the GPUs, the cap on running requests.
    assert alike(config(1, 0.85)) != alike(config(2, 0.85))
    assert alike(config(2, 0.85, max_running_requests=4)) != alike(config(2, 0.85))


def test_configs_the_twin_cannot_score_resemble_nothing_but_themselves():
    alike = predicted_behaviour(require_valid(TASK))

    # Both die at start-up in the twin: it knows nothing of how they behave when they do start.
    assert alike(config(2, 0.99)) != alike(config(2, 0.99, max_running_requests=4))
    assert alike(config(2, 0.99)) == alike(config(2, 0.99))
    # tp 1 in 15% of the memory is refused before deployment.
    assert alike(config(1, 0.15)) != alike(config(1, 0.15, max_running_requests=4))


def test_without_the_twin_nothing_is_alike():
    task = {**TASK, "search": {**TASK["search"], "prior": "none"}}
    assert predicted_behaviour(require_valid(task)) is None

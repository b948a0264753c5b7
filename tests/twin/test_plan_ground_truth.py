"""In the unchanged world the plan's best config is within 3% of the optimum of a benchmark surface's
ground truth (every config evaluated by the discrete-event simulator, benchmarks/ground_truth.py)."""

from __future__ import annotations

from autotuner.task.space import engine_args
from autotuner.twin.grid import config_key
from autotuner.twin.plan import plan_task
from benchmarks.ground_truth import load_ground_truth
from benchmarks.surface import load_surface


def test_plan_top_1_is_within_3_percent_of_the_quick_surface_optimum(tmp_path):
    surface = load_surface("quick-llama8b-h100")
    truth = load_ground_truth(surface, cache_dir=tmp_path, processes=1)
    plan = plan_task(surface.task)
    assert not plan.sampled  # 96 configs: screened whole
    assert truth.gap(config_key(engine_args(plan.best[0].config))) <= 0.03
    assert plan.best[0].score == truth.truth(plan.best[0].config).score  # the confirmation is the simulator's

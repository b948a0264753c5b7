"""The ground truth's cache: a change of scoring alone reuses the cached levels, nothing else does."""

from __future__ import annotations

import json

from autotuner.sim.version import simulator_version
from benchmarks.ground_truth import cache_path, levels_digest, load_ground_truth, reusable_levels
from benchmarks.worlds import UNCHANGED, draw_world


def _as_another_scoring(truth, tmp_path, **changes):
    """The quick truth's cache file as another scoring (another digest in its name) left it."""
    data = json.loads(cache_path(truth.surface).read_text())
    data.update(changes)
    name = cache_path(truth.surface).name
    older = tmp_path / f"{name.rsplit('-', 1)[0]}-{'0' * 12}.json"
    older.write_text(json.dumps(data))
    return older


def test_a_new_scoring_reuses_the_levels_of_the_old_cache_file(quick_truth, tmp_path):
    older = _as_another_scoring(quick_truth, tmp_path)
    said: list[str] = []
    truth = load_ground_truth(quick_truth.surface, cache_dir=tmp_path, progress=said.append, processes=1)
    assert f"levels of {older.name} reused" in said[0]
    assert {k: c.score for k, c in truth.configs.items()} == {k: c.score for k, c in quick_truth.configs.items()}
    saved = json.loads(cache_path(truth.surface, tmp_path).read_text())
    assert saved["levels_digest"] == levels_digest(truth.surface) and len(saved["levels"]) >= len(json.loads(
        older.read_text())["levels"])


def test_levels_of_another_task_simulator_or_world_are_not_reused(quick_truth, tmp_path):
    version = simulator_version()
    _as_another_scoring(quick_truth, tmp_path)
    assert reusable_levels(quick_truth.surface, tmp_path, UNCHANGED, version)[0]
    assert not reusable_levels(quick_truth.surface, tmp_path, UNCHANGED, "another simulator")[0]
    assert not reusable_levels(quick_truth.surface, tmp_path, draw_world(1), version)[0]
    _as_another_scoring(quick_truth, tmp_path, levels_digest="another task")
    assert not reusable_levels(quick_truth.surface, tmp_path, UNCHANGED, version)[0]

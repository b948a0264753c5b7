"""The ``genai-bench`` benchmark runner (default): one genai-bench process on the trial's Ray
worker, started while the engine starts up, running each level the trial asks for
(:class:`~autotuner.bench.genai_bench.GenaiBenchLevels`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from autotuner.bench.genai_bench import PLACEHOLDER_API_KEY, GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.engines.base import RunningEngine

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

EARLY_START_ENV = "AUTOTUNER_GENAI_BENCH_EARLY_START"


def genai_bench_settings(spec: TaskSpec, api_key: str | None = None) -> GenaiBenchSettings:
    """genai-bench's settings for a task's trials (``api_key``: the key the server requires)."""
    wl = spec.workload
    prefix, dataset = wl.prefix, wl.dataset
    return GenaiBenchSettings(tokenizer=str(spec.model.tokenizer), api_backend=wl.api_backend,
                              max_minutes_per_level=wl.minutes_per_level, api_key=api_key or PLACEHOLDER_API_KEY,
                              prefix_len=prefix.len if prefix else None, prefix_ratio=prefix.ratio if prefix else None,
                              dataset_path=dataset.path if dataset else None,
                              prompt_column=dataset.prompt_column if dataset else None,
                              max_tokens=dataset.max_tokens if dataset else None)


class GenaiBenchRunner:
    """:class:`~autotuner.bench.runner.BenchmarkRunner` running genai-bench next to the trial."""

    name = "genai-bench"

    def __init__(self, levels: GenaiBenchLevels, simulated: bool = False):
        self.levels = levels
        self.simulated = simulated  # the engine is the simulator: its lag behind its schedule is read

    @classmethod
    def prepare(cls, spec: TaskSpec, work_dir: Path, api_key: str | None = None) -> GenaiBenchRunner:
        """genai-bench started now, before the engine, so its imports overlap the engine's start-up.
        ``AUTOTUNER_GENAI_BENCH_EARLY_START=0`` defers the start to the first level (for measuring
        what the early start saves)."""
        levels = GenaiBenchLevels(genai_bench_settings(spec, api_key), work_dir)
        runner = cls(levels, simulated=spec.engine.simulated)
        if os.environ.get(EARLY_START_ENV, "1") != "0":
            levels.start()
        return runner

    def connect(self, engine: RunningEngine, *, campaign_id: str, trial_id: str, gpus: int) -> None:
        self.levels.connect(engine.base_url, engine.served_model_name, simulated=self.simulated)

    def run_level(self, request: LevelRequest) -> LevelResult:
        return self.levels.run_level(request)

    def close(self) -> None:
        self.levels.close()


__all__ = ["EARLY_START_ENV", "GenaiBenchRunner", "genai_bench_settings"]

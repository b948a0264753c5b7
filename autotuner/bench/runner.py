"""Where a trial's load levels are measured (``workload.runner``), behind one small protocol, one
module per runner and one line each in :data:`autotuner.plugins.RUNNERS` (its spec rules in
:mod:`autotuner.bench.rules`):

* ``genai-bench`` (default): genai-bench on the trial's Ray worker (:mod:`autotuner.bench.genai_bench_runner`);
* ``benchmarkjob`` (``ome`` backend): an OME BenchmarkJob per level in the cluster
  (:mod:`autotuner.bench.benchmarkjob_runner`).

::

    runner = RUNNERS.get(spec.workload.runner).prepare(spec, work_dir, api_key)  # before the engine
    with contextlib.closing(runner):
        runner.connect(engine, campaign_id=cid, trial_id=tid, gpus=2)             # once it is up
        level = runner.run_level(LevelRequest("D(128,32)", 16, max_requests=48))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.engines.base import RunningEngine

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec


class BenchmarkRunner(Protocol):
    """Measures one level at a time against the trial's engine."""

    name: str

    @classmethod
    def prepare(cls, spec: TaskSpec, work_dir: Path, api_key: str | None = None) -> BenchmarkRunner:
        """The trial's runner, made before its engine deploys (it may start what takes long).
        ``api_key``: the key the server requires."""
        ...

    def connect(self, engine: RunningEngine, *, campaign_id: str, trial_id: str, gpus: int) -> None:
        """The engine the levels load, once it is up."""
        ...

    def run_level(self, request: LevelRequest) -> LevelResult:
        """The level's result; raises :class:`~autotuner.bench.genai_bench.BenchmarkError` when it
        cannot be measured."""
        ...

    def close(self) -> None:
        """Stop whatever still runs (idempotent)."""
        ...


__all__ = ["BenchmarkRunner"]

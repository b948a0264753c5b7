"""The trial: deploy one engine config, load it level by level, report each level, tear down.

A class trainable rather than a function: Tune calls :meth:`EngineTrial.cleanup` synchronously
when the trial ends for any reason (done, stopped by ASHA, failed, campaign interrupted) before
the actor exits, so the engine is always torn down. A function trainable's ``finally`` runs in a
daemon thread that the actor's exit may cut short.

Each :meth:`step` waits for the next level's genai-bench result and returns the level's metrics
plus the objective so far (``score``), so ASHA compares trials at the same level.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from ray import tune

from autotuner.bench.genai_bench import BenchmarkError
from autotuner.bench.result import LevelResult
from autotuner.bench.sources import early_benchmark, trial_levels
from autotuner.engines.base import DeployRequest, EngineStartError, RunningEngine
from autotuner.engines.registry import make_backend
from autotuner.engines.sglang_args import gpus_needed
from autotuner.feasibility import reject_reason
from autotuner.objective import REJECTED_SCORE, STARTUP_FAILED_SCORE, Objective, objective_from_spec
from autotuner.progress import describe_config
from autotuner.results import FAILED, REJECTED
from autotuner.space import engine_args
from autotuner.spec import TaskSpec
from trainables.phase_clock import PhaseClock


def model_facts(spec: TaskSpec) -> dict[str, Any]:
    """Size facts used by the pre-deployment checks (from the spec, else the simulator's tables)."""
    heads, params_b, mem_gb = spec.model.num_attention_heads, spec.model.params_billion, None
    try:
        from autotuner.sim.hardware import GPUS
        from autotuner.sim.models import resolve_model

        model = resolve_model(spec.model.name)
        heads = heads or model.num_attention_heads
        params_b = params_b or model.num_params / 1e9
    except KeyError:
        pass
    gpu = GPUS.get(spec.engine.gpu)
    mem_gb = gpu.memory_bytes / 1e9 if gpu else None
    return {"num_attention_heads": heads, "params_billion": params_b, "gpu_memory_gb": mem_gb}


class EngineTrial(tune.Trainable):
    """One trial of a campaign. Config: engine parameters; ``spec_json`` (the task) and
    ``campaign_id`` come through ``tune.with_parameters``."""

    def setup(self, config: dict[str, Any], spec_json: str, campaign_id: str) -> None:
        self.clock = PhaseClock()  # phase times for benchmarks/overhead.py, in timing.json
        self.campaign_id = campaign_id
        self.spec = TaskSpec.model_validate_json(spec_json)
        self.engine_args = engine_args(config)
        self.gpus = gpus_needed(self.engine_args)
        self.objective: Objective = objective_from_spec(self.spec.objective)
        self.levels: list[LevelResult] = []
        self.sweep = self.spec.levels
        self.work_dir = self.spec.output_dir / "trials" / self.trial_id
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._stack = contextlib.ExitStack()
        self._engine: RunningEngine | None = None
        self._results: Iterator[LevelResult] | None = None
        self._ending: dict[str, Any] | None = None  # the final report when the trial cannot go on
        self._deploy_s = 0.0

        why = reject_reason(self.engine_args, gpus_per_node=self.spec.engine.gpus_per_node,
                            slots=self.spec.budget.gpus, **model_facts(self.spec))
        if why:
            self._ending = self._final(REJECTED, why, REJECTED_SCORE)
            return
        early = self._stack.enter_context(early_benchmark(self.spec, self.work_dir))  # overlaps the engine start
        t0 = time.monotonic()
        self.clock.mark("deploy_started")
        try:
            self._engine = self._stack.enter_context(make_backend(self.spec).deploy(DeployRequest(
                campaign_id=self.campaign_id, trial_id=self.trial_id, engine_args=self.engine_args,
                served_model_name=self.spec.model.served_model_name, work_dir=self.work_dir,
                gpu_ids=[str(g) for g in _gpu_ids()])))
        except EngineStartError as err:
            self._stack.close()
            self._ending = self._final(FAILED, f"start-up failed: {err.reason}", STARTUP_FAILED_SCORE,
                                       log_tail=err.log_tail)
            return
        self._deploy_s = time.monotonic() - t0
        self.clock.mark("engine_ready")
        self._results = self._stack.enter_context(trial_levels(
            self.spec, self._engine, self.work_dir, campaign_id=self.campaign_id, trial_id=self.trial_id,
            engine_args=self.engine_args, early=early))

    def step(self) -> dict[str, Any]:
        if self._ending is not None:
            return self._ending
        assert self._results is not None and self._engine is not None
        k = len(self.levels)
        self.clock.mark("first_step", once=True)
        try:
            level = next(self._results)
        except (BenchmarkError, StopIteration) as err:
            crashed = self._engine.check_alive()
            reason = f"engine crashed during level {k + 1}: {crashed}" if crashed else (
                str(err) or f"genai-bench ended after {k} of {len(self.sweep)} levels")
            score = self.objective.score(self.levels, self.gpus)
            return self._final(FAILED, reason, score.value if self.levels else STARTUP_FAILED_SCORE,
                               feasible=score.feasible and bool(self.levels))
        self.levels.append(level)
        self.clock.append("level_reported")
        score = self.objective.score(self.levels, self.gpus)
        report = {
            "level": k + 1, "scenario": level.scenario, "concurrency": level.concurrency,
            "gpus": self.gpus, "score": score.value, "feasible": score.feasible,
            "best_level": -1 if score.best_level is None else score.best_level + 1,
            "meets_slo": bool(score.per_level[-1]) if score.per_level else False,
            "engine_startup_s": self._deploy_s, "status": "running", "reason": score.note,
            "output_tok_s_per_gpu": level.output_tok_s / max(self.gpus, 1),
            "num_errors": level.num_errors,
            **{k2: v for k2, v in level.to_dict().items() if k2 not in ("error_codes", "all_failed")},
        }
        if len(self.levels) == len(self.sweep):
            report["status"] = "done"
            report["done"] = True
        return report

    def _final(self, status: str, reason: str, score: float, *, feasible: bool = False,
               log_tail: str = "") -> dict[str, Any]:
        """The last report of a trial that cannot go on (rejected, start-up failure, crash)."""
        tail = "\n".join(log_tail.splitlines()[-5:])
        (self.work_dir / "reason.txt").write_text(reason + ("\n\n" + log_tail if log_tail else "") + "\n")
        return {"level": len(self.levels), "gpus": self.gpus, "score": score, "feasible": feasible,
                "status": status, "reason": reason, "log_tail": tail, "done": True,
                "engine_startup_s": self._deploy_s}

    def __repr__(self) -> str:
        # Ray shows it as the actor's "Repr" in the dashboard and in its log prefixes: the Actors
        # page then reads like the trial table.
        return f"EngineTrial(trial {self.trial_id}: {describe_config(self.config)})"

    def cleanup(self) -> None:
        self.clock.mark("cleanup_started")
        self._stack.close()
        self.clock.mark("cleanup_ended")
        self.clock.write(self.work_dir / "timing.json", gpu_ids=[str(g) for g in _gpu_ids()])


def _gpu_ids() -> list[Any]:
    import ray

    return ray.get_gpu_ids() if ray.is_initialized() else []


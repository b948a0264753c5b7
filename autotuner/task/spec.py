"""The task spec: one typed model for what a tuning campaign should do.

The CLI, ``ray job submit`` and the web form all load the same :class:`TaskSpec`; reading and
checking a task file is :mod:`autotuner.task.load`, the rules that cross fields
:mod:`autotuner.task.rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autotuner.flavors import DEFAULT_FLAVOR, FLAVORS, EngineFlavor
from autotuner.task.problem import CAMPAIGN_NAME_RE, GPU_TYPES, Problem



class _Strict(BaseModel):
    # inf and nan compare as neither too big nor too small: every bound check would let them through.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelSpec(_Strict):
    """The model being served."""

    name: str = Field(min_length=1, description="Model id, e.g. meta-llama/Llama-3.1-8B-Instruct.")
    path: str | None = Field(None, description="Local weights folder (SGLang's --model-path).")
    tokenizer: str | None = Field(
        None, description="Local tokenizer folder for genai-bench; empty: the built-in one (simulator only)."
    )
    served_name: str | None = Field(None, description="--served-model-name; default: last part of name.")
    params_billion: float | None = Field(None, gt=0, description="Parameter count, to check the weights fit.")
    num_attention_heads: int | None = Field(None, ge=1, description="Attention heads; tp_size must divide it.")

    @property
    def served_model_name(self) -> str:
        return self.served_name or self.name.rsplit("/", 1)[-1].lower()


class LocalBackendSpec(_Strict):
    """Settings of the local process backend."""

    command: Literal["simulator", "engine"] | list[str] = Field(
        "simulator", description="simulator, engine (the real engine of engine.flavor), or the argv of any "
                                 "OpenAI-compatible server.")
    python: str | None = Field(None, description="Interpreter for the simulator or a `python -m` engine.")
    startup_time_scale: float = Field(
        1.0, ge=0, description="Simulator only: factor on its modelled start-up time (weights, CUDA graphs)."
    )
    ready_timeout_s: float = Field(900, gt=0, description="Seconds to wait for the server to become ready.")
    extra_args: list[str] = Field(default_factory=list, description="Appended to the server's argv.")
    env: dict[str, str] = Field(default_factory=dict)


class OmeBackendSpec(_Strict):
    """Settings of the OME InferenceService backend (Kubernetes)."""

    namespace: str = "default"
    base_model: str = Field(description="ClusterBaseModel name.")
    runtime: str | None = Field(None, description="ClusterServingRuntime name; empty: OME picks.")
    command_override: list[str] | None = Field(None, description="Replaces the runtime's command.")
    ready_timeout_s: float = Field(1800, gt=0)
    endpoint: Literal["engine-service", "status-url"] = Field(
        "engine-service", description="engine-service: http://<isvc>-engine.<ns>.svc:8080; status-url: OME's status.url.")
    kubeconfig: str | None = Field(None, description="Kubeconfig file; empty: in-cluster credentials or ~/.kube/config.")
    context: str | None = None
    benchmark_pvc: str | None = Field(None, description="workload.runner benchmarkjob: PVC the results are written to.")
    results_mount: str | None = Field(None, description="workload.runner benchmarkjob: where that PVC is mounted on "
                                      "the Ray workers.")


class ApiKeySpec(_Strict):
    """Where the API key of the engine's server comes from; the key itself is never in the task.
    The tuner starts each engine with ``--api-key`` and gives genai-bench the same key."""

    env: str | None = Field(None, description="Environment variable holding the key, read by the campaign's "
                                              "driver (local backend; with `ray job submit`, the head node's "
                                              "environment).")
    secret_name: str | None = Field(None, description="ome: Kubernetes Secret in engine.ome.namespace holding the "
                                                      "key; the InferenceService reads it from there.")
    secret_key: str = Field("api-key", description="ome: the key of that Secret's data that holds the API key.")


class EngineSpec(_Strict):
    """Which engine runs where."""

    backend: Literal["local", "ome"] = "local"
    flavor: str = Field(DEFAULT_FLAVOR, description="The engine: " + " | ".join(FLAVORS))
    version: str | None = Field(None, description="Engine version the commands target; default: the newest "
                                                  "recorded for the flavor (written into spec.yaml).")
    gpu: str = Field("H100", description="GPU type: " + ", ".join(GPU_TYPES))
    gpus_per_node: int = Field(8, ge=1, le=64)
    local: LocalBackendSpec = Field(default_factory=LocalBackendSpec)
    ome: OmeBackendSpec | None = None
    fixed: dict[str, Any] = Field(default_factory=dict, description="Engine parameters set but not tuned.")
    api_key: ApiKeySpec | None = Field(None, description="The server requires an API key: where it comes from.")

    @model_validator(mode="before")
    @classmethod
    def _pin_version(cls, data: Any) -> Any:
        # Pinned when the task is read, so a resumed campaign keeps the version it started with.
        if isinstance(data, dict) and data.get("version") is None and data.get("flavor", DEFAULT_FLAVOR) in FLAVORS:
            data = {**data, "version": FLAVORS.get(data.get("flavor", DEFAULT_FLAVOR)).newest_version()}
        return data

    @property
    def simulated(self) -> bool:
        return self.backend == "local" and self.local.command == "simulator"

    @property
    def engine_flavor(self) -> EngineFlavor:
        """The flavor object (a valid spec names a known one)."""
        return FLAVORS.get(self.flavor)


class ParamSpace(_Strict):
    """How one engine parameter is searched: a choice list or a numeric range."""

    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    when: dict[str, Any] | None = Field(
        None, description="Only sample this parameter when the named parameters have these values."
    )


class SearchSpec(_Strict):
    """What to try next and when to stop a trial early."""

    algorithm: Literal["tpe", "random"] = Field(
        "tpe", description="tpe: Optuna's multivariate TPE with infeasibility as a constraint; random: uniform.")
    early_stopping: Literal["bound", "none"] = Field(
        "bound", description="bound: stop a trial as soon as its measured levels prove it cannot beat the best "
        "trial so far; none: every trial finds its SLO boundary.")
    stop_margin: float = Field(
        0.05, ge=0, lt=0.5, description="bound: stop only when the trial's bound is this share below what the "
        "best trial is sure of (twice that after the trial's first level alone; room for measurement noise).")
    prior: Literal["twin", "none"] = Field(
        "twin", description="twin: the simulator's best configs run first (after initial_configs) and a config it "
        "predicts far below the best trial is not deployed; none: the search starts from nothing.")
    space: dict[str, ParamSpace] = Field(default_factory=dict)
    initial_configs: list[dict[str, Any]] = Field(
        default_factory=list, description="Configs tried first (e.g. the current production one)."
    )

    @property
    def stops_early(self) -> bool:
        """Whether early stopping is on (:mod:`autotuner.stopping`: the bound rule, the load hint, fail-fast levels)."""
        return self.early_stopping != "none"


class LoadSpec(_Strict):
    """Where each trial's load search may go, in concurrent users (genai-bench's closed loop)."""

    min: int = Field(1, ge=1, le=100_000, description="Lowest load tried.")
    max: int = Field(512, ge=1, le=100_000, description="Highest load tried.")
    start: int = Field(8, ge=1, le=100_000, description="First load of the first trials (later trials start at the "
                       "best trial's boundary load).")
    resolution: float = Field(0.1, gt=0, le=1, description="Narrowing stops when the first failing load is within "
                              "this share above the last passing one.")
    growth: float = Field(2.0, gt=1, le=16, description="Factor between loads while no SLO is broken.")


class PrefixSpec(_Strict):
    """A prefix every prompt starts with, as a chat app's system prompt (genai-bench's --prefix-len
    or --prefix-ratio): engines with a prefix cache compute it once. Give ``len`` or ``ratio``."""

    len: int | None = Field(None, ge=1, le=1_000_000, description="Tokens every prompt shares at its start "
                            "(at most the shortest prompt a scenario can draw).")
    ratio: float | None = Field(None, ge=0, le=1, description="Or: this share of each prompt's tokens, in [0, 1] "
                                "(D scenarios only, as genai-bench requires).")

    def describe(self) -> str:
        return (f"a {self.len}-token shared prefix" if self.len is not None
                else f"a shared prefix of {self.ratio:.0%} of each prompt")


class DatasetSpec(_Strict):
    """Your own prompts (genai-bench's --dataset-path): a local file whose text genai-bench builds
    every prompt from, in place of its built-in sonnets."""

    path: str = Field(min_length=1, description="Local .txt (a prompt per line), .csv (with prompt_column) or "
                      ".json (a list of strings) file; relative to where the tuner runs.")
    prompt_column: str | None = Field(None, description="The .csv file's column of prompts.")
    lengths: Literal["scenario", "prompts"] = Field(
        "scenario", description="What sets each request's tokens: scenario (the workload's scenarios; genai-bench "
        "cuts the file's text to their input lengths and asks their output lengths) or prompts (one prompt of the "
        "file as written per request, asking max_tokens; workload.scenarios must be [dataset]).")
    max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="lengths prompts: the output tokens each "
                                   "request asks for (the simulator generates them all; a real model may stop "
                                   "earlier).")

    def describe(self) -> str:
        column = f" (column {self.prompt_column})" if self.prompt_column else ""
        asked = f", as written, {self.max_tokens} tokens out at most" if self.lengths == "prompts" else ""
        return f"prompts from {Path(self.path).name}{column}{asked}"


class WorkloadSpec(_Strict):
    """The load genai-bench puts on each trial: per scenario, the load search between
    ``load.min`` and ``load.max``, or a fixed sweep of the ``concurrency`` list."""

    scenarios: list[str] = Field(default_factory=lambda: ["D(100,100)"], min_length=1)
    load: LoadSpec = Field(default_factory=LoadSpec)
    concurrency: list[int] | None = Field(
        None, min_length=1, description="A fixed sweep instead of the load search: every listed concurrency, in order.")
    prefix: PrefixSpec | None = Field(None, description="A prefix all prompts share (a system prompt).")
    dataset: DatasetSpec | None = Field(None, description="Your own prompts instead of genai-bench's sonnets.")
    requests_per_level: int = Field(50, ge=1, le=1_000_000, description="Requests per level, at least (a soft cap in genai-bench).")
    requests_per_user: int = Field(3, ge=1, le=1000, description="Requests per level for each concurrent user, "
                                   "at least, so high loads are measured in a steady state.")
    minutes_per_level: int = Field(1, ge=1, le=60, description="Time cap per level, whole minutes.")
    api_backend: Literal["sglang", "vllm", "openai"] = "sglang"
    host_distortion: Literal["mark", "refuse"] = Field(
        "mark", description="A level the host distorted (the machine held back the server or genai-bench): "
        "mark: score it, marked as distorted in every output and in the answer's warning; refuse: run it "
        "again, up to 3 runs, and leave it unscored if it stays distorted (the trial ends there).")
    runner: Literal["genai-bench", "benchmarkjob"] = Field(
        "genai-bench", description="genai-bench: on the trial's Ray worker, level by level (a trial can stop "
        "early); benchmarkjob (ome backend): an OME BenchmarkJob per level in the cluster.")

    def traffic(self) -> str:
        """The traffic of every level, in a few words (scenarios, shared prefix, prompts)."""
        parts = [", ".join(self.scenarios)]
        parts += [part.describe() for part in (self.prefix, self.dataset) if part is not None]
        return "; ".join(parts)

    def describe(self) -> str:
        """The load each trial gets, in a few words."""
        if self.concurrency:
            return f"a fixed sweep of {len(self.scenarios) * len(self.concurrency)} levels"
        load = self.load
        return (f"a load search over {load.min}-{load.max} users per scenario "
                f"(start {load.start}, {load.resolution:.0%} resolution)")


class RemeasureSpec(_Strict):
    """The re-measurement that picks the answer: the best configs run again at their boundary load."""

    configs: int = Field(3, ge=0, le=20, description="How many of the best configs run again (0: no re-measurement).")
    repeats: int = Field(3, ge=1, le=20, description="Levels each of them runs at a load (up to 3 times as many "
                         "where they disagree: autotuner.trial.sweep.RepeatPlan).")


class SLOSpec(_Strict):
    """Latency and error limits a level must meet to count."""

    ttft_p90_s: float | None = Field(1.0, gt=0)
    tpot_p90_s: float | None = Field(0.05, gt=0)
    max_error_rate: float = Field(0.01, ge=0, le=1)


class ObjectiveSpec(_Strict):
    """How a trial is scored."""

    kind: Literal["goodput_per_gpu", "latency"] = "goodput_per_gpu"
    latency_metric: Literal["ttft_p90_s", "tpot_p90_s", "e2e_p90_s"] = "e2e_p90_s"
    latency_concurrency: int | None = Field(None, ge=1, description="latency: the level it is read at.")
    slo: SLOSpec = Field(default_factory=SLOSpec)


class BudgetSpec(_Strict):
    """How much the campaign may spend."""

    trials: int = Field(12, ge=1, le=100_000)
    gpus: int = Field(4, ge=1, le=4096, description="GPU slots trials run on in parallel.")
    wall_time_s: float | None = Field(None, gt=0)


class TaskSpec(_Strict):
    """A tuning campaign: model, engine, search space, workload, objective, budget."""

    name: str = Field(description="Campaign name: lowercase letters, digits, '-'.")
    model: ModelSpec
    engine: EngineSpec = Field(default_factory=EngineSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    remeasure: RemeasureSpec = Field(default_factory=RemeasureSpec)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the search (numpy takes 0 to 2^32-1).")
    output: str | None = Field(None, description="Campaign folder; default runs/<name>.")

    @model_validator(mode="before")
    @classmethod
    def _runner_moved(cls, data: Any) -> Any:
        """Tasks written before ``workload.runner`` (campaign folders resumed) name it
        ``engine.ome.benchmark: ray-worker | benchmarkjob``."""
        engine = data.get("engine") if isinstance(data, dict) else None
        ome = engine.get("ome") if isinstance(engine, dict) else None
        workload = data.get("workload", {}) if isinstance(data, dict) else None
        if not (isinstance(ome, dict) and "benchmark" in ome and isinstance(workload, dict)):
            return data
        runner = {"ray-worker": "genai-bench"}.get(ome["benchmark"], ome["benchmark"])
        if workload.get("runner", runner) != runner:
            raise ValueError(f"engine.ome.benchmark ({ome['benchmark']}) is now workload.runner "
                             f"({workload['runner']}): give only workload.runner")
        ome = {k: v for k, v in ome.items() if k != "benchmark"}
        return {**data, "engine": {**engine, "ome": ome}, "workload": {**workload, "runner": runner}}

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{self.name}").expanduser().resolve()

    def launch_command(self, config: dict[str, Any]) -> list[str]:
        """The ready command that starts this task's engine (flavor and version) with ``config``."""
        eng = self.engine
        return eng.engine_flavor.launch_command(self.model.path or self.model.name, config, eng.version or "",
                                                served_model_name=self.model.served_model_name)

    def behaviour_notes(self, config: dict[str, Any]) -> list[str]:
        """What the engine changes behind the scenes for ``config`` on this task's GPU."""
        return self.engine.engine_flavor.behaviour_notes(config, self.engine.gpu)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


__all__ = [
    "CAMPAIGN_NAME_RE", "GPU_TYPES", "ApiKeySpec", "BudgetSpec", "DatasetSpec", "EngineSpec", "LoadSpec", "LocalBackendSpec", "ModelSpec", "ObjectiveSpec", "OmeBackendSpec",
    "ParamSpace", "PrefixSpec", "Problem", "RemeasureSpec", "SLOSpec", "SearchSpec", "TaskSpec", "WorkloadSpec",
]

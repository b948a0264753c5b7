"""What every engine flavor provides: the :class:`EngineFlavor` protocol, the :class:`EngineParam`
each tunable parameter is declared as, and how OME serves the flavor (:class:`OmeRuntime`).
The part flavors share, driven by the recorded option tables, is :mod:`.table`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

Spelling = tuple[str, ...]  # argv items a value is written as; "--flag=value" items fix the value
# The highest integer a parameter without its own bound may take. The engines' parsers take any
# Python int, but their kernels and index tensors hold counts in 32-bit integers, and no batch,
# token budget or graph size comes anywhere near it: a larger value is a typo (2**70), not a setting.
INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class EngineParam:
    """One tunable engine parameter, named by the engine's own ``dest``."""

    name: str
    kind: str  # "int" | "float" | "bool" | "str"
    help: str
    choices: tuple[Any, ...] | None = None  # closed set of allowed values
    low: float | None = None  # inclusive bounds for numbers
    high: float | None = None
    low_exclusive: bool = False
    high_exclusive: bool = False
    allow_minus_one: bool = False  # -1 means "disabled"
    spellings: tuple[Spelling, ...] = ()  # how versions write it, newest first; default --name
    default: Any = None  # the version's parser default (None: the engine computes it)
    short: str | None = None  # label in one-line config summaries
    # Where the web form starts the parameter when it is switched on: a search (choices, or low/high
    # with step/log) worth exploring on one node (a flag: both values), and a fixed value.
    start: Mapping[str, Any] = field(default_factory=dict)
    start_value: Any = None
    # value -> (GPUs it applies to, empty: all; what the engine changes behind the flag)
    notes: Mapping[Any, tuple[tuple[str, ...], str]] = field(default_factory=dict)

    @property
    def starting_search(self) -> Mapping[str, Any]:
        return self.start or ({"choices": [False, True]} if self.kind == "bool" else {})

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not allowed for this parameter, or None when it is."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind == "str":
            if not isinstance(value, str):
                return "must be a string"
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be an integer"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if self.choices is not None and value not in self.choices:
            return "must be one of " + ", ".join(map(str, self.choices))
        if self.allow_minus_one and value == -1:
            return None
        if self.low is not None and (value < self.low or (self.low_exclusive and value == self.low)):
            return self.range_text()
        high = self.upper
        if high is not None and (value > high or (self.high_exclusive and value == high)):
            return self.range_text()
        return None

    @property
    def upper(self) -> float | None:
        """The highest value allowed: ``high``, or for an integer without one :data:`INT_MAX`."""
        return INT_MAX if self.high is None and self.kind == "int" else self.high

    def range_text(self) -> str:
        lo = "(" if self.low_exclusive else "["
        hi = ")" if self.high_exclusive else "]"
        text = f"must be in {lo}{self.low}, {'inf' if self.upper is None else self.upper}{hi}"
        return text + (" or -1 (disabled)" if self.allow_minus_one else "")


def parallel_params(tp: str, dp: str) -> tuple[EngineParam, EngineParam]:
    """The tensor and data parallel sizes every flavor has, under the engine's own names."""
    return (EngineParam(tp, "int", "Tensor parallel size: GPUs one model replica is split over.", low=1, high=64,
                        short="tp", start={"choices": [1, 2, 4]}, start_value=1),
            EngineParam(dp, "int", "Data parallel size: model replicas behind one server.", low=1, high=64,
                        short="dp", start={"choices": [1, 2]}, start_value=1))


@dataclass(frozen=True)
class OmeRuntime:
    """How OME's stock runtimes of a flavor are named, and what a trial's InferenceService fills in.

    ``command``: the ``spec.engine.runner.command`` the trial sets (None: keep the runtime's
    command and append the flags as ``runner.args``); ``runtime_prefix``: how OME's stock
    ClusterServingRuntimes of this flavor are named (``srt-llama-3-2-1b``)."""

    runtime_prefix: str
    command: tuple[str, ...] | None = None


class EngineFlavor(Protocol):
    """An inference engine the tuner can launch and tune."""

    name: str
    title: str  # how the engine is called in messages: "SGLang"
    program: tuple[str, ...]  # the launch command before the server argv, after the interpreter
    ready_paths: tuple[str, ...]  # HTTP paths that answer 200 once the server serves
    ome: OmeRuntime
    tp_param: str
    dp_param: str
    memory_param: str  # the share of GPU memory the engine plans with

    def versions(self) -> list[str]: ...
    def newest_version(self) -> str: ...
    def params(self, version: str) -> dict[str, EngineParam]: ...
    def config_argv(self, config: Mapping[str, Any], version: str) -> list[str]: ...
    def overridden_flags(self, argv: Sequence[str], version: str,
                         params: Sequence[str]) -> list[tuple[str, str, str | None]]: ...
    def server_argv(self, model_path: str, config: Mapping[str, Any], version: str, *, host: str, port: int,
                    served_model_name: str | None = None, api_key: str | None = None,
                    tokenizer: str | None = None) -> list[str]: ...
    def launch_command(self, model_path: str, config: Mapping[str, Any], version: str, *,
                       served_model_name: str | None = None, python: str = "python", host: str = "0.0.0.0",
                       port: int | None = None, tokenizer: str | None = None) -> list[str]: ...
    def ome_command(self) -> list[str] | None: ...
    def gpus_needed(self, config: Mapping[str, Any]) -> int: ...
    def config_problems(self, config: Mapping[str, Any], version: str, gpu: str) -> list[tuple[str, str]]: ...
    def served_name_problem(self, served_model_name: str) -> str | None: ...
    def behaviour_notes(self, config: Mapping[str, Any], gpu: str) -> list[str]: ...

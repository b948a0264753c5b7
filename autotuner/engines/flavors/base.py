"""What every engine flavor provides, and the table-driven part they share.

A flavor (SGLang, vLLM) is one module that declares its tunable parameters and how its server is
launched; :class:`TableFlavor` turns those declarations into a per-version catalogue and argv by
reading the version's recorded option table (``autotuner/engines/options``), so a flag an engine
renamed is written the way that version spells it::

    flavor = get_flavor("sglang")
    flavor.config_argv({"cuda_graph_max_bs": 160}, "0.5.23")   # ['--cuda-graph-max-bs-decode', '160']
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from autotuner.engines.option_table import load_table, recorded_versions

Spelling = tuple[str, ...]  # argv items a value is written as; "--flag=value" items fix the value


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

    @property
    def starting_search(self) -> Mapping[str, Any]:
        return self.start or ({"choices": [False, True]} if self.kind == "bool" else {})
    # value -> (GPUs it applies to, empty: all; what the engine changes behind the flag)
    notes: Mapping[Any, tuple[tuple[str, ...], str]] = field(default_factory=dict)

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
        if self.high is not None and (value > self.high or (self.high_exclusive and value == self.high)):
            return self.range_text()
        return None

    def range_text(self) -> str:
        lo = "(" if self.low_exclusive else "["
        hi = ")" if self.high_exclusive else "]"
        text = f"must be in {lo}{self.low}, {'inf' if self.high is None else self.high}{hi}"
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


class TableFlavor:
    """The parts of a flavor its recorded option tables decide; a flavor module subclasses it and
    sets the class attributes (see ``vllm.py``)."""

    name: str
    title: str
    program: tuple[str, ...]
    model_flag: str | None  # None: the model is the first positional argument
    tokenizer_flag: str
    default_port: int
    ready_paths: tuple[str, ...]
    ome: OmeRuntime
    tp_param: str
    dp_param: str
    memory_param: str
    catalogue: tuple[EngineParam, ...]

    def versions(self) -> list[str]:
        """Versions with a recorded option table, oldest first."""
        return recorded_versions(self.name)

    def newest_version(self) -> str:
        return self.versions()[-1]

    def table(self, version: str) -> dict[str, Any]:
        return _table(self.name, version)

    def params(self, version: str) -> dict[str, EngineParam]:
        """The catalogue at ``version``: choices narrowed to what the version accepts, its defaults,
        each parameter written the way the version spells it; parameters it lacks are left out."""
        return _params(self, version)

    def spelling(self, name: str, version: str) -> Spelling:
        """How ``version`` writes parameter ``name`` (see :func:`pick_spelling`)."""
        param = next((p for p in self.catalogue if p.name == name), None)
        if param is None:
            raise KeyError(f"unknown {self.title} parameter {name!r}; known: "
                           + ", ".join(p.name for p in self.catalogue))
        spelling = pick_spelling(_spellings(param), self.table(version))
        if spelling is None:
            raise KeyError(f"{self.title} {version} has no flag for {name}")
        return spelling

    def config_argv(self, config: Mapping[str, Any], version: str) -> list[str]:
        """The flags of a trial config for ``version``; values are separate argv items."""
        argv: list[str] = []
        for name, value in config.items():
            spelling = self.spelling(name, version)
            param = self.params(version)[name]
            argv += self.write(param, spelling, value, self.table(version))
        return argv

    def write(self, param: EngineParam, spelling: Spelling, value: Any, table: Mapping[str, Any]) -> list[str]:
        """argv items for one value: ``--flag value``; a bool as the spelling (true) or its
        negation where the engine has one (``--no-flag``), else nothing."""
        if param.kind != "bool":
            return [spelling[0], str(value)]
        if value:
            return list(spelling)
        negation = "--no-" + spelling[0][2:]
        option = _option(table, spelling[0])
        return [negation] if option is not None and negation in option["flags"] else []

    def server_argv(self, model_path: str, config: Mapping[str, Any], version: str, *, host: str, port: int,
                    served_model_name: str | None = None, api_key: str | None = None,
                    tokenizer: str | None = None) -> list[str]:
        """What follows :attr:`program` in the launch command: model, address, names, key, flags."""
        argv = [self.model_flag, model_path] if self.model_flag else [model_path]
        argv += ["--host", host, "--port", str(port)]
        if served_model_name:
            argv += ["--served-model-name", served_model_name]
        if api_key:
            argv += ["--api-key", api_key]
        if tokenizer:
            argv += [self.tokenizer_flag, tokenizer]
        return argv + self.config_argv(config, version)

    def launch_command(self, model_path: str, config: Mapping[str, Any], version: str, *,
                       served_model_name: str | None = None, python: str = "python", host: str = "0.0.0.0",
                       port: int | None = None, tokenizer: str | None = None) -> list[str]:
        """The ready command that starts the engine with ``config`` (``python`` runs ``-m`` programs)."""
        program = [python, *self.program] if self.program[0] == "-m" else list(self.program)
        return program + self.server_argv(model_path, config, version, host=host, port=port or self.default_port,
                                          served_model_name=served_model_name, tokenizer=tokenizer)

    def ome_command(self) -> list[str] | None:
        """The ``spec.engine.runner.command`` a trial's InferenceService sets (None: the runtime's)."""
        return list(self.ome.command) if self.ome.command else None

    def gpus_needed(self, config: Mapping[str, Any]) -> int:
        """GPUs one server with ``config`` occupies: tensor x data parallel size."""
        return int(config.get(self.tp_param, 1)) * int(config.get(self.dp_param, 1))

    def config_problems(self, config: Mapping[str, Any], version: str, gpu: str) -> list[tuple[str, str]]:
        """(parameter, why) for what the engine rejects at start-up although its parser accepts it."""
        return []

    def served_name_problem(self, served_model_name: str) -> str | None:
        """Why the engine refuses this served model name, or None."""
        return None

    def behaviour_notes(self, config: Mapping[str, Any], gpu: str) -> list[str]:
        """What the engine changes behind the scenes for this config (from the catalogue's notes)."""
        notes = []
        for param in self.catalogue:
            value = config.get(param.name)
            if param.name not in config or value not in param.notes:
                continue
            gpus, text = param.notes[value]
            if not gpus or gpu in gpus:
                notes.append(f"{param.name}={value}: " + text.format(gpu=gpu))
        return notes


def pick_spelling(spellings: Sequence[Spelling], table: Mapping[str, Any]) -> Spelling | None:
    """The first spelling whose flags the table has without deprecation, else the first it has at
    all (a deprecated alias still works), else None."""
    present = [s for s in spellings if all(_option(table, item.split("=", 1)[0]) for item in s)]
    current = [s for s in present if not any(_option(table, item.split("=", 1)[0]).get("deprecated") for item in s)]
    return (current or present or [None])[0]


def _spellings(param: EngineParam) -> tuple[Spelling, ...]:
    return param.spellings or (("--" + param.name.replace("_", "-"),),)


def _option(table: Mapping[str, Any], flag: str) -> dict[str, Any] | None:
    return _flag_index(table["engine"], table["version"]).get(flag)


@functools.lru_cache(maxsize=None)
def _table(engine: str, version: str) -> dict[str, Any]:
    return load_table(engine, version)


@functools.lru_cache(maxsize=None)
def _flag_index(engine: str, version: str) -> dict[str, dict[str, Any]]:
    return {flag: option for option in _table(engine, version)["options"] for flag in option["flags"]}


@functools.lru_cache(maxsize=None)
def _params(flavor: TableFlavor, version: str) -> dict[str, EngineParam]:
    table = flavor.table(version)
    out: dict[str, EngineParam] = {}
    for param in flavor.catalogue:
        spelling = pick_spelling(_spellings(param), table)
        if spelling is None:
            continue
        option = _option(table, spelling[0].split("=", 1)[0]) or {}
        choices = param.choices
        if choices is not None and option.get("choices") and param.kind != "bool":
            choices = tuple(c for c in choices if c in option["choices"])
        default = False if param.kind == "bool" and "=" in spelling[0] else option.get("default")
        out[param.name] = dataclasses.replace(param, choices=choices, default=default)
    return out

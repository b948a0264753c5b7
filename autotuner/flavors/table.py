"""The part of an engine flavor its recorded option tables decide.

A flavor (SGLang, vLLM) is one module that declares its tunable parameters and how its server is
launched; :class:`TableFlavor` turns those declarations into a per-version catalogue and argv by
reading the version's recorded option table (``autotuner/flavors/options``), so a flag an engine
renamed is written the way that version spells it::

    flavor = FLAVORS.get("sglang")
    flavor.config_argv({"cuda_graph_max_bs": 160}, "0.5.23")   # ['--cuda-graph-max-bs-decode', '160']
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Sequence

from autotuner.flavors.base import EngineParam, OmeRuntime, Spelling
from autotuner.flavors.argparse_replay import options_named
from autotuner.flavors.option_table import load_table, option_for, recorded_versions


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

    def overridden_flags(self, argv: Sequence[str], version: str,
                         params: Sequence[str]) -> list[tuple[str, str, str | None]]:
        """(argv item, flag, parameter or None) for each item of ``argv`` (extra flags appended to
        the launch line) that sets what the tuner writes on every launch: the model, tokenizer,
        address, served name and API key, and the parameters ``params`` (tuned or fixed). As the
        engine's parser reads it: ``--port=1``, an abbreviation (``--hos``) and an alias count."""
        table = self.table(version)
        written = [(flag, None) for flag in (self.model_flag or "--model", self.tokenizer_flag, "--host", "--port",
                                             "--served-model-name", "--api-key")]
        written += [(flag.split("=", 1)[0], name) for name in params if name in self.params(version)
                    for flag in self.spelling(name, version)]
        by_dest = {option["dest"]: (flag, name) for flag, name in written
                   if (option := option_for(table, flag)) is not None}
        return [(arg, *by_dest[option["dest"]]) for arg, option in options_named(table, argv)
                if option["dest"] in by_dest]

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

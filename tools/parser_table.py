"""Describe an argparse parser as an option table, and record the real parser's verdicts.

Used by tools/engine_options.py inside an engine's venv: it needs nothing but the standard library
(and ``autotuner/flavors/argparse_replay.py``, loaded by path, whose value models it checks against
the engine's own converters). The table's format is read by :mod:`autotuner.flavors.option_table`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
HELP_CHARS = 200  # help texts are cut to this many characters in the table
ENGINE_LOGGERS = ("sglang", "vllm")  # loggers whose deprecation warnings a verdict keeps


# ----------------------------------------------------------------------------------------------
# Describing a parser, and its verdicts.
# ----------------------------------------------------------------------------------------------

def describe_parser(parser: argparse.ArgumentParser, engine: str, version: str) -> dict[str, Any]:
    """The option table of ``parser`` (see autotuner/flavors/option_table.py for its use)."""
    import platform

    grouped: dict[int, list[str]] = {}
    actions: dict[int, argparse.Action] = {}
    for flag, action in parser._option_string_actions.items():
        grouped.setdefault(id(action), []).append(flag)
        actions[id(action)] = action
    deprecated_set = getattr(parser, "_deprecated", set())
    options = [describe_action(parser, actions[key], flags, deprecated_set) for key, flags in grouped.items()]
    positionals = [describe_action(parser, a, [], deprecated_set) for a in parser._get_positional_actions()]
    first_flag = {id(a): flags[0] for key, flags in grouped.items() for a in [actions[key]]}
    exclusive = [{"flags": [first_flag[id(a)] for a in group._group_actions], "required": group.required}
                 for group in parser._mutually_exclusive_groups]
    return {
        "schema": 1,
        "engine": engine,
        "version": version,
        "recorded_with": {"python": platform.python_version()},
        "parser": {"prog": parser.prog, "class": f"{type(parser).__module__}.{type(parser).__qualname__}",
                   "allow_abbrev": parser.allow_abbrev, "prefix_chars": parser.prefix_chars,
                   "flexible": False},
        "mutually_exclusive": exclusive,
        "positionals": positionals,
        "options": options,
    }


# Help text that declares its own option deprecated ("(Deprecated, use X)", "Deprecated. Use X",
# "this flag is deprecated"), not one that mentions another deprecated option.
DEPRECATED_HELP = re.compile(r"^\W*deprecated\b|\bis deprecated\b|\bdeprecated:", re.IGNORECASE)

ACTION_KINDS = {
    argparse._StoreAction: "store", argparse._StoreTrueAction: "store_true",
    argparse._StoreFalseAction: "store_false", argparse._StoreConstAction: "store_const",
    argparse._AppendAction: "append", argparse._AppendConstAction: "append_const",
    argparse._CountAction: "count", argparse._HelpAction: "help", argparse._VersionAction: "version",
    argparse.BooleanOptionalAction: "boolean_optional",
}


def describe_action(parser: argparse.ArgumentParser, action: argparse.Action, flags: list[str],
                    deprecated_set: set) -> dict[str, Any]:
    """One option: flags, dest, action kind, nargs, value type, choices, default, help, status."""
    kind = next((name for cls, name in ACTION_KINDS.items() if type(action) is cls), None)
    if kind is None:
        base = next((name for cls, name in ACTION_KINDS.items() if isinstance(action, cls)), "action")
        kind = f"{base}:{type(action).__qualname__}"
    help_text = action.help if isinstance(action.help, str) else ""
    suppressed = action.help == argparse.SUPPRESS
    new_flag = getattr(action, "new_flag", None)
    deprecated = (action in deprecated_set or getattr(action, "deprecated", False) is True
                  or type(action).__name__.startswith("Deprecated")
                  or DEPRECATED_HELP.search(help_text) is not None)
    entry: dict[str, Any] = {"dest": action.dest, "flags": flags, "action": kind, "nargs": action.nargs}
    hidden = [f for f in flags if f not in action.option_strings]
    if hidden:
        entry["hidden"] = hidden
    name = "/".join(action.option_strings) if flags else (action.metavar or action.dest)
    if name != "/".join(f for f in flags if f not in hidden) or not flags:
        entry["name"] = name
    if action.nargs != 0:
        entry.update(describe_type(parser, action))
        if kind.startswith("action:") and not type(action).__name__.startswith("Deprecated"):
            entry["type"] = "unchecked"  # a custom action may reject values itself
    if action.choices is not None:
        unordered = isinstance(action.choices, (set, frozenset))
        choices = sorted(action.choices, key=repr) if unordered else list(action.choices)
        entry["choices"] = [to_json(c) for c in choices]
        if entry["choices"] != choices:
            entry["choices_unchecked"] = True  # values JSON cannot hold
        if unordered:
            entry["choices_unordered"] = True  # argparse lists them in set order in its message
    if action.const is not None and (action.nargs == "?" or "const" in kind):
        entry["const"] = to_json(action.const)
    entry["default"] = to_json(action.default)
    if action.required:
        entry["required"] = True
    if suppressed:
        entry["suppressed"] = True
    if help_text and not suppressed:
        entry["help"] = shorten(expand_help(help_text, action))
    if deprecated:
        entry["deprecated"] = True
        entry["deprecation"] = (f"use {new_flag}" if new_flag else
                                shorten(getattr(action, "error_message", None) or help_text or "deprecated"))
    if getattr(action, "error_message", None):
        entry["error_message"] = action.error_message
    return entry


def expand_help(text: str, action: argparse.Action) -> str:
    """The help text with argparse's %-formatting applied (%(default)s, %%), as --help shows it."""
    if "%" not in text:
        return text
    params = dict(vars(action), prog="")
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        return text


def shorten(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= HELP_CHARS else text[:HELP_CHARS - 3] + "..."


# Probe strings on which the validator's model of a value type must agree with the real one.
TYPE_PROBES = ["0", "1", "-1", "7", "+3", " 8 ", "1_000", "0.5", "-2.5", "1e3", "inf", "nan", "abc",
               "None", "none", "", "true", "False", "{}", '{"a": 1}', "[1, 2]", "1k", "2M", "a-B", "Auto"]
# Models whose converted value must equal the real one too; the others are judged on acceptance.
EXACT_MODELS = ("str", "int", "float", "json", "snake_lower")


def describe_type(parser: argparse.ArgumentParser, action: argparse.Action) -> dict[str, Any]:
    """The value type of ``action`` as the validator models it, checked on probe strings.

    The validator's converters are tried, the one the converter's name suggests first; the first
    that agrees with the real converter on every probe is recorded, else "unchecked".
    """
    type_func = parser._registry_get("type", action.type, action.type)
    type_name = getattr(action.type, "__name__", repr(action.type)) if action.type else "str"
    inner = _optional_inner(action.type)
    none_ok = inner is not None
    guess = classify_type(inner if none_ok else action.type)
    described: dict[str, Any] = {"type": "unchecked", "type_name": type_name}
    for candidate in dict.fromkeys([guess, *EXACT_MODELS]):
        if candidate != "unchecked" and _agrees(type_func, candidate, none_ok):
            described["type"] = candidate
            if none_ok:
                described["none_ok"] = True
            break
    template = type_error_template(parser, action)
    if template and template != f"invalid {type_name} value: {{value!r}}":
        described["type_error"] = template
    return described


def _agrees(type_func: Callable[[str], Any], model_name: str, none_ok: bool) -> bool:
    """Whether the validator's ``model_name`` converter treats every probe as ``type_func`` does."""
    convert = validator_module().CONVERTERS[model_name]

    def model(text: str) -> Any:
        return None if none_ok and text in ("", "None") else convert(text)

    for probe in TYPE_PROBES:
        real, modelled = _converted(type_func, probe), _converted(model, probe)
        if (real is _REJECTED) != (modelled is _REJECTED):
            return False
        if model_name in EXACT_MODELS and real is not _REJECTED and (
                type(real) is not type(modelled) or repr(real) != repr(modelled)):  # nan != nan
            return False
    return True


def classify_type(type_func: Any) -> str:
    """Name of the validator's converter that ``type_func``'s name suggests, or "unchecked"."""
    if type_func is None or type_func is str:
        return "str"
    if type_func in (int, float):
        return type_func.__name__
    if type_func is json.loads:
        return "json"
    name = getattr(type_func, "__name__", "")
    return {"human_readable_int": "human_int", "human_readable_int_or_auto": "human_int_or_auto",
            "json_list_type": "json", "nullable_str": "str"}.get(name, "unchecked")


def _optional_inner(type_func: Any) -> Any:
    """The wrapped type of a ``optional_type(T)`` / ``nullable_str`` style converter, if any."""
    if getattr(type_func, "__name__", "") == "nullable_str":
        return str
    if getattr(type_func, "__name__", "") == "_optional_type" and type_func.__closure__:
        return next((cell.cell_contents for cell in type_func.__closure__ if callable(cell.cell_contents)), None)
    return None


_REJECTED = object()


def _converted(convert: Callable[[str], Any], text: str) -> Any:
    try:
        return convert(text)
    except Exception:  # argparse reports any converter failure as a rejected value
        return _REJECTED


def type_error_template(parser: argparse.ArgumentParser, action: argparse.Action) -> str | None:
    """argparse's message for a value the type rejects, with the value as ``{value}``."""
    bad = "ZZbadZZ"
    try:
        parser._get_value(action, bad)
    except argparse.ArgumentError as err:
        text = without_addresses(err.message).replace("{", "{{").replace("}", "}}")
        return text.replace(repr(bad), "{value!r}").replace(bad, "{value}")
    except Exception:
        return None
    return None


def without_addresses(message: str) -> str:
    """``message`` with object addresses ("<function loads at 0x7f...>") made the same in every run."""
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", message)


_VALIDATOR = None


def validator_module() -> types.ModuleType:
    """autotuner/flavors/argparse_replay.py, loaded by path (the engine venv lacks the autotuner)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "argparse_replay", REPO / "autotuner" / "flavors" / "argparse_replay.py")
        _VALIDATOR = importlib.util.module_from_spec(spec)
        sys.modules["argparse_replay"] = _VALIDATOR
        spec.loader.exec_module(_VALIDATOR)
    return _VALIDATOR


def to_json(value: Any) -> Any:
    """``value`` as JSON data; objects JSON cannot hold become their repr."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_json(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(getattr(value, "value", None), (str, int)):  # enums
        return value.value
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "__struct_fields__"):
        fields = getattr(value, "__struct_fields__", None) or list(value.__dataclass_fields__)
        return {name: to_json(getattr(value, name)) for name in fields}
    return repr(value)


def required_argv(parser: argparse.ArgumentParser, values: dict[str, str]) -> list[str]:
    """The argv that satisfies the parser's required options (values by dest)."""
    argv: list[str] = []
    for action in parser._actions:
        if action.required and action.option_strings:
            argv += [action.option_strings[0], values[action.dest]]
    return argv


def verdict_argv(table: dict[str, Any]) -> Iterator[list[str]]:
    """Per option: a valid use and an invalid one, from its recorded kind, type and choices."""
    for option in table["options"]:
        flag = option["flags"][0]
        if option["action"] in ("help", "version") or option.get("required") or option["dest"] == "config":
            continue  # --config FILE is read before parsing (not modelled by the validator)
        if option["nargs"] == 0:
            yield [flag]
            yield [f"{flag}=1"]
            continue
        value = sample_value(option)
        count = option["nargs"] if isinstance(option["nargs"], int) else 1
        yield [flag] + [value] * count
        yield [flag]
        if option.get("choices") and not (option.get("choices_unchecked") or option.get("choices_unordered")):
            yield [flag, "not-a-choice"]
        elif option.get("type") in ("int", "float", "human_int"):
            yield [flag, "x1"]


def sample_value(option: dict[str, Any]) -> str:
    """A value the option's recorded type should accept."""
    if option.get("choices"):
        return str(option["choices"][-1])
    return {"int": "3", "float": "0.5", "human_int": "4", "human_int_or_auto": "auto", "json": "{}"}.get(
        option.get("type"), "x")


def record_verdicts(build: Callable[[], argparse.ArgumentParser], table: dict[str, Any],
                    required: list[str], extra: list[list[str]]) -> list[dict[str, Any]]:
    """The real parser's verdict on each argv: its error message (or null) and deprecation warnings."""
    verdicts = []
    for argv in [*extra, *verdict_argv(table)]:
        full = required + argv
        error, warnings = real_verdict(build(), full)
        verdicts.append({"argv": full, "error": error, "warned": warnings})
    return verdicts


class _Rejected(Exception):
    pass


def real_verdict(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str | None, list[str]]:
    """(argparse's error message or None, deprecation warnings logged) for ``argv``."""
    def error(message: str) -> None:
        raise _Rejected(message)

    parser.error = error  # argparse reports every rejection through error(); keep the message
    handler = _Collector()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ENGINE_LOGGERS)]
    for logger in loggers:
        logger.addHandler(handler)
    lines: list[str] = []
    message = None
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            namespace = parser.parse_args(argv)
            lines += [str(w.message) for w in caught]
            # vLLM warns once per process for these (logger.warning_once); ask its own rule directly.
            lines += [f"argument '{action.dest}' is deprecated" for action in getattr(parser, "_deprecated", ())
                      if getattr(namespace, action.dest, action.default) != action.default]
    except _Rejected as err:
        message = without_addresses(str(err))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    lines = handler.lines + lines
    found = [shorten(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in lines if "deprecat" in line.lower()]
    return message, list(dict.fromkeys(found))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

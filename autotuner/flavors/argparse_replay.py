"""Python 3.11 argparse's acceptance rules, replayed for an argv against an engine version's recorded
option table (:mod:`autotuner.flavors.option_table`), without the engine installed: unknown flags,
ambiguous prefixes, missing or surplus values, type and choice errors, required flags, mutually
exclusive flags, and the preprocessing of vLLM's ``FlexibleArgumentParser`` (underscores in flag
names, ``-O3``, ``--json-arg.key value``). Errors carry argparse's own wording; warnings for
deprecated flags are kept apart from errors. Standard library only: ``tools/parser_table.py`` loads
this file by path, in an engine's venv, to check its value converters against the engine's types.

>>> table = {"engine": "demo", "version": "1", "parser": {"allow_abbrev": True}, "positionals": [],
...          "options": [{"dest": "tp_size", "flags": ["--tp-size"], "nargs": None, "type": "int"}]}
>>> replay(table, ["--tp", "2"]).values
{'tp_size': 2}
>>> replay(table, ["--tp-size", "two"]).errors
["argument --tp-size: invalid int value: 'two'"]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

# Value types a table may name (CONVERTERS); anything else was recorded as "unchecked" (any string passes).
_INT_SUFFIX = re.compile(r"\d+(\.\d+)?[kKmMgGtT]i?")
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


@dataclass
class Verdict:
    """What the engine's parser says about an argv: the first error it stops at, and warnings."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # dest -> value, for the options given

    @property
    def accepted(self) -> bool:
        return not self.errors



def replay(table: Mapping[str, Any], argv: Sequence[str]) -> Verdict:
    """Replay the parse of ``argv`` against ``table``: errors, deprecation warnings, values."""
    parser = _Parser(table)
    verdict = Verdict()
    try:
        parser.parse(list(argv), verdict)
    except _ParseError as err:
        verdict.errors.append(str(err))
    return verdict


def options_named(table: Mapping[str, Any], argv: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """(argv item, option) for each item the parser reads as one of its options: exactly, as
    ``--flag=value``, or by a prefix it expands (an ambiguous prefix, which it refuses, is left out).

    >>> table = {"options": [{"dest": "host", "flags": ["--host"]}, {"dest": "port", "flags": ["--port"]}]}
    >>> [(arg, o["dest"]) for arg, o in options_named(table, ["--hos", "0.0.0.0", "--port=1", "x"])]
    [('--hos', 'host'), ('--port=1', 'port')]
    """
    parser = _Parser(table)
    named = []
    for arg in _flexible_preprocess(list(argv)) if parser.flexible else argv:
        if arg == "--":
            break
        try:
            found = parser.classify(arg)
        except _ParseError:
            continue
        if found is not None and found[0] is not None:
            named.append((arg, found[0]))
    return named


class _ParseError(Exception):
    pass


def _action_name(option: Mapping[str, Any]) -> str:
    if option.get("name"):
        return option["name"]
    hidden = set(option.get("hidden", ()))
    return "/".join(f for f in option["flags"] if f not in hidden)


def _argument_error(option: Mapping[str, Any], message: str) -> _ParseError:
    return _ParseError(f"argument {_action_name(option)}: {message}")


class _Parser:
    """Python 3.11 argparse's parse_args, driven by a recorded table instead of Action objects."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        settings = table.get("parser", {})
        self.allow_abbrev = settings.get("allow_abbrev", True)
        self.prefix_chars = settings.get("prefix_chars", "-")
        self.flexible = settings.get("flexible", False)
        self.options: list[dict[str, Any]] = list(table.get("options", ()))
        self.positionals: list[dict[str, Any]] = list(table.get("positionals", ()))
        self.by_flag: dict[str, dict[str, Any]] = {}
        for option in self.options:
            for flag in option["flags"]:
                self.by_flag[flag] = option
        self.has_negative_number_optionals = any(_NEGATIVE_NUMBER.match(f) for f in self.by_flag)
        self.conflicts: dict[int, list[dict[str, Any]]] = {}  # by id() of the option
        for group in table.get("mutually_exclusive", ()):
            members = [self.by_flag[flag] for flag in group["flags"]]
            for i, member in enumerate(members):
                self.conflicts.setdefault(id(member), []).extend(members[:i] + members[i + 1:])
        self.required_groups = [g for g in table.get("mutually_exclusive", ()) if g.get("required")]

    # -- classification of each argv item (argparse's _parse_optional) --------------------------

    def classify(self, arg: str) -> tuple[dict[str, Any] | None, str, str | None] | None:
        """(option, option string, explicit argument) for an optional, None for a positional."""
        if not arg or arg[0] not in self.prefix_chars:
            return None
        if arg in self.by_flag:
            return self.by_flag[arg], arg, None
        if len(arg) == 1:
            return None
        if "=" in arg:
            option_string, explicit = arg.split("=", 1)
            if option_string in self.by_flag:
                return self.by_flag[option_string], option_string, explicit
        matches = self.prefix_matches(arg)
        if len(matches) > 1:
            names = ", ".join(flag for _, flag, _ in matches)
            raise _ParseError(f"ambiguous option: {arg} could match {names}")
        if len(matches) == 1:
            return matches[0]
        if _NEGATIVE_NUMBER.match(arg) and not self.has_negative_number_optionals:
            return None
        if " " in arg:
            return None
        return None, arg, None

    def prefix_matches(self, arg: str) -> list[tuple[dict[str, Any], str, str | None]]:
        chars = self.prefix_chars
        result = []
        if arg[0] in chars and arg[1] in chars:
            if self.allow_abbrev:
                prefix, explicit = arg.split("=", 1) if "=" in arg else (arg, None)
                result = [(o, f, explicit) for f, o in self.by_flag.items() if f.startswith(prefix)]
        else:
            short, short_explicit = arg[:2], arg[2:]
            for flag, option in self.by_flag.items():
                if flag == short:
                    result.append((option, flag, short_explicit))
                elif flag.startswith(arg):
                    result.append((option, flag, None))
        return result

    # -- values (argparse's _get_values, _get_value, _check_value) -------------------------------

    def convert(self, option: Mapping[str, Any], text: str) -> Any:
        kind = option.get("type", "str")
        if option.get("none_ok") and text in ("", "None"):
            return None
        try:
            value = CONVERTERS.get(kind, _unchecked)(text)
        except (TypeError, ValueError):
            template = option.get("type_error") or "invalid {type_name} value: {value!r}"
            message = template.format(value=text, type_name=option.get("type_name", kind))
            raise _argument_error(option, message) from None
        choices = option.get("choices")
        if choices is not None and not option.get("choices_unchecked") and value not in choices:
            shown = ", ".join(map(repr, choices))
            raise _argument_error(option, f"invalid choice: {value!r} (choose from {shown})")
        return value

    def values(self, option: Mapping[str, Any], strings: list[str]) -> Any:
        nargs = option.get("nargs")
        if "--" in strings:
            strings.remove("--")
        if not strings and nargs == "?":
            const = option.get("const")
            return self.convert(option, const) if isinstance(const, str) else const
        if len(strings) == 1 and nargs in (None, "?"):
            return self.convert(option, strings[0])
        if nargs == 0:
            return option.get("const", True)
        return [self.convert(option, s) for s in strings]

    # -- the parse (argparse's _parse_known_args and parse_args) ---------------------------------

    def parse(self, argv: list[str], verdict: Verdict) -> None:
        if self.flexible:
            argv = _flexible_preprocess(argv)
        pattern_parts: list[str] = []
        optionals: dict[int, tuple[dict[str, Any] | None, str, str | None]] = {}
        items = iter(enumerate(argv))
        for i, arg in items:
            if arg == "--":
                pattern_parts.append("-")
                pattern_parts.extend("A" for _ in items)
                break
            found = self.classify(arg)
            if found is None:
                pattern_parts.append("A")
            else:
                optionals[i] = found
                pattern_parts.append("O")
        pattern = "".join(pattern_parts)

        seen: set[int] = set()
        seen_non_default: set[int] = set()
        extras: list[str] = []
        positionals = list(self.positionals)

        def take(option: dict[str, Any], strings: list[str], option_string: str | None) -> None:
            seen.add(id(option))
            value = self.values(option, strings)
            if option.get("nargs") == 0:
                value = _switch_value(option, option_string)
            verdict.values[option["dest"]] = value
            seen_non_default.add(id(option))
            for other in self.conflicts.get(id(option), ()):
                if id(other) in seen_non_default:
                    raise _argument_error(option, f"not allowed with argument {_action_name(other)}")
            if option.get("error_message"):
                raise _ParseError(option["error_message"])
            if option.get("deprecated") and option_string is not None:
                note = option.get("deprecation") or "deprecated"
                warning = f"{option_string} is deprecated: {note}"
                if warning not in verdict.warnings:
                    verdict.warnings.append(warning)

        def consume_optional(start: int) -> int:
            option, option_string, explicit = optionals[start]
            if option is None:
                extras.append(argv[start])
                return start + 1
            taken: list[tuple[dict[str, Any], list[str], str]] = []
            while True:
                if explicit is not None:
                    count = _match_count(option, "A")
                    if count == 0 and option_string[1] not in self.prefix_chars and explicit != "":
                        taken.append((option, [], option_string))
                        option_string = option_string[0] + explicit[0]
                        rest = explicit[1:] or None
                        if option_string in self.by_flag:
                            option, explicit = self.by_flag[option_string], rest
                            continue
                        raise _argument_error(option, f"ignored explicit argument {explicit!r}")
                    if count == 1:
                        stop = start + 1
                        taken.append((option, [explicit], option_string))
                        break
                    raise _argument_error(option, f"ignored explicit argument {explicit!r}")
                count = _match_count(option, pattern[start + 1:])
                stop = start + 1 + count
                taken.append((option, argv[start + 1:stop], option_string))
                break
            for option_taken, strings, flag in taken:
                take(option_taken, list(strings), flag)
            return stop

        def consume_positionals(start: int) -> int:
            counts = _match_partial(positionals, pattern[start:])
            for option, count in zip(positionals, counts):
                take(option, list(argv[start:start + count]), None)
                start += count
            del positionals[:len(counts)]
            return start

        start = 0
        last_optional = max(optionals) if optionals else -1
        while start <= last_optional:
            next_optional = min(i for i in optionals if i >= start)
            if start != next_optional:
                end = consume_positionals(start)
                if end > start:
                    start = end
                    continue
                start = end
            if start not in optionals:
                extras.extend(argv[start:next_optional])
                start = next_optional
            start = consume_optional(start)
        extras.extend(argv[consume_positionals(start):])

        missing = [_action_name(o) if o["flags"] else o.get("metavar") or o["dest"]
                   for o in self.options + self.positionals if o.get("required") and id(o) not in seen]
        if missing:
            raise _ParseError("the following arguments are required: " + ", ".join(missing))
        for group in self.required_groups:
            if not any(id(self.by_flag[f]) in seen_non_default for f in group["flags"]):
                names = " ".join(_action_name(self.by_flag[f]) for f in group["flags"])
                raise _ParseError(f"one of the arguments {names} is required")
        if extras:
            raise _ParseError("unrecognized arguments: " + " ".join(extras))


def _switch_value(option: Mapping[str, Any], option_string: str | None) -> Any:
    """What a flag without a value stores: False for the negative spelling of a boolean pair
    (``--no-x``; ``--disable-x`` beside ``--enable-x`` in vLLM's EnableDisableAction), else the
    recorded const, else True (store_true)."""
    if str(option.get("action", "")).startswith("boolean_optional") and option_string:
        primary = option["flags"][0]
        inverse = {"--enable-": "--disable-", "--disable-": "--enable-"}
        negative = option_string.startswith("--no-") or any(
            primary.startswith(prefix) and option_string.startswith(other) for prefix, other in inverse.items())
        return not negative
    const = option.get("const")
    return True if const is None else const


def _nargs_pattern(option: Mapping[str, Any], optional: bool) -> str:
    nargs = option.get("nargs")
    if nargs is None:
        text = "(-*A-*)"
    elif nargs == "?":
        text = "(-*A?-*)"
    elif nargs == "*":
        text = "(-*[A-]*)"
    elif nargs == "+":
        text = "(-*A[A-]*)"
    elif nargs == "...":
        text = "([-AO]*)"
    else:
        text = "(-*%s-*)" % "-*".join("A" * int(nargs))
    if optional:
        text = text.replace("-*", "").replace("-", "")
    return text


def _match_count(option: Mapping[str, Any], pattern: str) -> int:
    match = re.match(_nargs_pattern(option, True), pattern)
    if match is None:
        nargs = option.get("nargs")
        message = {None: "expected one argument", "?": "expected at most one argument",
                   "+": "expected at least one argument"}.get(nargs)
        if message is None:
            message = f"expected {nargs} argument" + ("" if nargs == 1 else "s")
        raise _argument_error(option, message)
    return len(match.group(1))


def _match_partial(positionals: list[Mapping[str, Any]], pattern: str) -> list[int]:
    for i in range(len(positionals), 0, -1):
        regex = "".join(_nargs_pattern(p, False) for p in positionals[:i])
        match = re.match(regex, pattern)
        if match is not None:
            return [len(group) for group in match.groups()]
    return []


def _flexible_preprocess(argv: list[str]) -> list[str]:
    """vLLM's FlexibleArgumentParser.parse_args rewriting, before argparse sees the argv.

    Underscores become dashes in flag names (up to the first "."), ``-O3`` becomes
    ``--optimization-level 3``, and ``--json-arg.key value`` items are gathered into one
    ``--json-arg '{"key": value}'`` pair appended at the end.
    """
    processed: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            key, sep, value = arg.partition("=")
            head, dot, tail = key[2:].partition(".")
            processed.append("--" + head.replace("_", "-") + dot + tail + sep + value)
        elif arg.startswith("-O") and arg != "-O":
            processed += ["--optimization-level", arg[3:] if arg[2] == "=" else arg[2:]]
        elif arg == "-O" and i + 1 < len(argv) and argv[i + 1] in {"0", "1", "2", "3"}:
            processed.append("--optimization-level")
        else:
            processed.append(arg)
    gathered: dict[str, dict[str, Any]] = {}
    kept: list[str] = []
    skip = False
    for i, arg in enumerate(processed):
        if skip:
            skip = False
            continue
        if not (arg.startswith("-") and "." in arg):
            kept.append(arg)
            continue
        if "=" in arg:
            name, value = arg.split("=", 1)
            if "." not in name:
                kept.append(arg)
                continue
        else:
            if i + 1 >= len(processed):
                raise _ParseError(f"{arg} expects a value")
            name, value, skip = arg, processed[i + 1], True
        if name.endswith("+"):
            name, value = name[:-1], json.dumps(value.split(","))
        key, *path = name.split(".")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        node = gathered.setdefault(key, {})
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = parsed
    for key, value in gathered.items():
        kept += [key, json.dumps(value)]
    return kept


def _unchecked(text: str) -> str:
    return text


def _human_int(text: str) -> int:
    text = text.strip()
    if _INT_SUFFIX.fullmatch(text):
        return 0
    return int(text)


def _human_int_or_auto(text: str) -> int:
    return -1 if text.strip().lower() == "auto" else _human_int(text)


def _snake_lower(text: str) -> str:
    return text.lower().replace("-", "_")


CONVERTERS = {
    "str": str,
    "snake_lower": _snake_lower,
    "int": int,
    "float": float,
    "json": json.loads,
    "human_int": _human_int,
    "human_int_or_auto": _human_int_or_auto,
    "unchecked": _unchecked,
}


__all__ = ["CONVERTERS", "Verdict", "options_named", "replay"]

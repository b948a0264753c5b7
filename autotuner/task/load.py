"""Reading and checking a task: plain data, YAML text or a file in, a :class:`~autotuner.task.spec.TaskSpec`
and every problem out. Loading never starts Ray or claims a GPU; each problem has its field path, the
bad value and what is allowed::

    spec, problems = load_spec("examples/quickstart.yaml")
    for p in problems:
        print(p)        # search.space.mem_fraction_static.high: 1.2 -- must be in (0.0, 1.0)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from autotuner.task.problem import MISSING, Problem
from autotuner.task.rules import check_spec
from autotuner.task.safe_yaml import MAX_BYTES, UnsafeYamlError, load_untrusted_yaml
from autotuner.task.spec import ParamSpace, SearchSpec, TaskSpec


class SpecError(ValueError):
    """A spec with problems; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        super().__init__("invalid task spec:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def parse_spec(data: Any) -> tuple[TaskSpec | None, list[Problem]]:
    """Build a spec from plain data (parsed YAML/JSON) and check it; never raises on bad input."""
    if not isinstance(data, dict):
        return None, [Problem("(top)", data, "the task must be a mapping of fields")]
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as err:
        problems = [_from_pydantic(e, data) for e in err.errors()]
        return None, problems + _rules_without(data, err.errors())
    return spec, check_spec(spec)


def _rules_without(data: dict, errors: list[Any]) -> list[Problem]:
    """The cross-field rules' problems of the task with its structurally bad fields left out, so a
    misspelt key (``trails:``) does not hide an invalid ``name``. Only problems that do not touch a
    left-out field count: with it gone, its default stands in and would be judged instead. Nothing
    when the task is still not valid without them (a required field is bad or missing)."""
    fields = [_field_of(data, error) for error in errors]
    if None in fields:
        return []
    stripped = copy.deepcopy(data)
    for field in sorted(set(fields), key=len):  # a field inside one already left out is gone with it
        *parents, key = field
        node = stripped
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(key, None)
    try:
        spec = TaskSpec.model_validate(stripped)
    except (ValidationError, ValueError):
        return []
    dropped = [".".join(field) for field in fields]
    return [p for p in check_spec(spec)
            if not any(p.path == d or p.path.startswith(d + ".") or d in p.message for d in dropped)]


def _field_of(data: dict, error: Any) -> tuple[str, ...] | None:
    """The keys of the field a validation error points into: the whole list for one of its items,
    the field for a variant of a union; None when it names no field given (a missing one)."""
    if error["type"] == "missing":
        return None
    keys: list[str] = []
    node: Any = data
    for part in error["loc"]:
        if not (isinstance(node, dict) and isinstance(part, str) and part in node):
            break
        keys.append(part)
        node = node[part]
    return tuple(keys) or None


def load_spec(path: str | Path) -> tuple[TaskSpec | None, list[Problem]]:
    """Read a YAML or JSON task file (at most :data:`~autotuner.task.safe_yaml.MAX_BYTES`) and check it."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        return None, [Problem("(file)", str(path), f"cannot read: {err.strerror}")]
    if len(raw) > MAX_BYTES:
        return None, [Problem("(file)", str(path), f"larger than {MAX_BYTES} bytes: not a task file")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, [Problem("(file)", str(path), f"not UTF-8 text (byte {err.start})")]
    return parse_spec_text(text)


def parse_spec_text(text: str) -> tuple[TaskSpec | None, list[Problem]]:
    """Parse YAML (JSON is YAML too) within the limits of :mod:`autotuner.task.safe_yaml` and check it."""
    try:
        data = load_untrusted_yaml(text)
    except UnsafeYamlError as err:
        return None, [Problem(err.field or err.where, None, err.message)]
    return parse_spec(data)


def require_valid(spec_or_data: TaskSpec | dict) -> TaskSpec:
    """The spec, or :class:`SpecError` with every problem."""
    if isinstance(spec_or_data, TaskSpec):
        spec, problems = spec_or_data, check_spec(spec_or_data)
    else:
        spec, problems = parse_spec(spec_or_data)
    if problems or spec is None:
        raise SpecError(problems)
    return spec


def _from_pydantic(err: dict, data: dict) -> Problem:
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc) or "(top)"
    value = data
    for key in err["loc"]:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            value = MISSING
            break
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(model.model_fields) if model else "see the docs"
        return Problem(path, value, f"unknown field; allowed here: {allowed}")
    if kind == "missing":
        return Problem(path, MISSING, "required field is missing")
    if kind == "literal_error":
        return Problem(path, value, "must be one of " + err["ctx"]["expected"].replace("'", ""))
    return Problem(path, value, err["msg"].replace("Input should be", "must be").replace("Value error, ", ""))


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The pydantic model class at a field path (for listing allowed fields)."""
    model: type[BaseModel] = TaskSpec
    for key in loc:
        field = model.model_fields.get(key)
        if field is None:
            return ParamSpace if model is SearchSpec else None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            if key == "space":
                return ParamSpace
            return None
        model = nxt
    return model


__all__ = ["SpecError", "load_spec", "parse_spec", "parse_spec_text", "require_valid"]

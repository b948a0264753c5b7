"""Reading and checking a task: plain data, YAML text or a file in, a :class:`~autotuner.task.spec.TaskSpec`
and every problem out. Loading never starts Ray or claims a GPU; each problem has its field path, the
bad value and what is allowed::

    spec, problems = load_spec("examples/quickstart.yaml")
    for p in problems:
        print(p)        # search.space.mem_fraction_static.high: 1.2 -- must be in (0.0, 1.0)
"""

from __future__ import annotations

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
        return None, [_from_pydantic(e, data) for e in err.errors()]
    return spec, check_spec(spec)


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
        return None, [Problem(err.where, None, err.message)]
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

"""The new-task form: an input for every field of the task spec, built from the pydantic model
(help texts are the fields' descriptions), validated by the same :func:`parse_spec` as the CLI::

    form = TaskForm()
    form.load(yaml.safe_load(open("examples/quickstart.yaml")))   # fills every input
    spec, problems = form.validate()                                # problems shown next to fields
    form.to_yaml()                                                  # what the form holds, as a task file

``output`` is not in the form: the web app keeps each campaign in its workspace.
"""

from __future__ import annotations

import inspect
from typing import Any

import panel as pn
import yaml
from pydantic import BaseModel

from autotuner.task.load import parse_spec
from autotuner.task.spec import Problem, TaskSpec
from serve_app.form_fields import UNSET, FieldInput, css_class, input_for, unwrap_optional
from serve_app.space_editor import SpaceEditor

# Filled in by other parts of the form, or by the app.
NOT_GENERIC = {"output", "search.space", "engine.fixed"}
SECTION_TITLES = {"model": "Model", "engine": "Engine", "engine.local": "Local backend (engine.local)",
                  "engine.ome": "OME backend on Kubernetes (engine.ome)", "search": "Search",
                  "workload": "Workload: genai-bench traffic (workload)", "objective": "Objective",
                  "objective.slo": "SLOs (objective.slo)", "budget": "Budget"}

DEFAULT_TASK: dict[str, Any] = {
    "name": "my-task",
    "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
    "engine": {"backend": "local", "gpu": "H100", "gpus_per_node": 8,
               "local": {"command": "simulator", "startup_time_scale": 0.1}},
    "search": {"space": {"tp_size": {"choices": [1, 2]},
                         "mem_fraction_static": {"low": 0.6, "high": 0.92, "step": 0.01},
                         "max_running_requests": {"low": 8, "high": 256, "log": True},
                         "chunked_prefill_size": {"choices": [2048, 4096, 8192]}}},
    "workload": {"scenarios": ["D(128,32)"], "load": {"min": 1, "max": 512, "start": 8}, "requests_per_level": 16},
    "objective": {"kind": "goodput_per_gpu", "slo": {"ttft_p90_s": 0.5, "tpot_p90_s": 0.05}},
    "budget": {"trials": 12, "gpus": 4},
    "seed": 0,
}


def _get(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return UNSET
        data = data[key]
    return data


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def _submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    kind, optional = unwrap_optional(annotation)
    return (kind if inspect.isclass(kind) and issubclass(kind, BaseModel) else None), optional


class TaskForm:
    """Inputs for a :class:`TaskSpec`; ``layout`` is the Panel object to show."""

    def __init__(self) -> None:
        self.fields: dict[str, FieldInput] = {}
        self.defaults: dict[str, Any] = {}
        self.sections: dict[str, pn.widgets.Checkbox] = {}  # optional sub-models: "include it" switches
        self.space = SpaceEditor()
        self.top_errors = pn.pane.Markdown("", visible=False, styles={"color": "#b00020"},
                                           css_classes=["form-top-errors"])
        self.cards: dict[str, pn.Card] = {}  # sub-model path -> its card (opened to reveal a problem)
        self.space_card: pn.Card | None = None
        cards = self._cards(TaskSpec, "", "Task")
        self.layout = pn.Column(self.top_errors, *cards, sizing_mode="stretch_width")
        for path in ("engine.flavor", "engine.version"):
            self.fields[path].widget.param.watch(self._on_engine, "value")
        self.load(DEFAULT_TASK)

    def _on_engine(self, _event: Any) -> None:
        """Another engine or version: the parameter rows become its own, keeping the names both have."""
        space, fixed = self.space.space(), self.space.fixed()
        self.space.use_flavor(self.fields["engine.flavor"].get(), self.fields["engine.version"].get())
        self.space.load(space, fixed)

    # -- building --

    def _cards(self, model: type[BaseModel], prefix: str, title: str) -> list[pn.viewable.Viewable]:
        """A card of the model's plain fields, then one card per sub-model (recursively)."""
        plain: list[pn.viewable.Viewable] = []
        nested: list[pn.viewable.Viewable] = []
        for name, info in model.model_fields.items():
            path = prefix + name
            if path in NOT_GENERIC:
                if path == "search.space":
                    self.space_card = pn.Card(self.space.layout, title="Engine parameters (search.space, engine.fixed)",
                                              sizing_mode="stretch_width")
                    nested.append(self.space_card)
                continue
            sub, optional = _submodel(info.annotation)
            if sub is not None:
                inner = self._cards(sub, path + ".", path)
                if optional:
                    switch = pn.widgets.Checkbox(label=f"include {path}", value=False)
                    self.sections[path] = switch
                    inner = [switch, *inner]
                card = self.cards[path] = pn.Card(*inner, title=SECTION_TITLES.get(path, path),
                                                  collapsed=optional, sizing_mode="stretch_width")
                nested.append(card)
                continue
            field = input_for(path, info)
            self.fields[path] = field
            default = info.get_default(call_default_factory=True)
            self.defaults[path] = UNSET if default is None or info.is_required() else default
            plain.append(field.layout)
        grid = pn.GridBox(*plain, ncols=3, sizing_mode="stretch_width") if plain else None
        if prefix == "":
            return [pn.Card(grid, title=title, sizing_mode="stretch_width"), *nested] if grid else nested
        return [grid, *nested] if grid else nested

    # -- data in and out --

    def load(self, data: dict[str, Any]) -> None:
        """Show a task (parsed YAML): each input gets the task's value or the spec's default."""
        for path, field in self.fields.items():
            value = _get(data, path)
            field.set(None if value is UNSET and self.defaults[path] is UNSET else
                      self.defaults[path] if value is UNSET else value)
        for path, switch in self.sections.items():
            switch.value = isinstance(_get(data, path), dict)
        space, fixed = _get(data, "search.space"), _get(data, "engine.fixed")
        self.space.use_flavor(_get(data, "engine.flavor"), _get(data, "engine.version"))
        self.space.load(space if isinstance(space, dict) else {}, fixed if isinstance(fixed, dict) else {})
        self.show([])

    def to_data(self) -> dict[str, Any]:
        """The task the form holds, as plain data (what a YAML task file would parse to)."""
        data: dict[str, Any] = {}
        for path, field in self.fields.items():
            section = next((s for s in self.sections if path.startswith(s + ".")), None)
            if section and not self.sections[section].value:
                continue
            value = field.get()
            if value is not UNSET:
                _put(data, path, value)
        _put(data, "search.space", self.space.space())
        fixed = self.space.fixed()
        if fixed:
            _put(data, "engine.fixed", fixed)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_data(), sort_keys=False)

    # -- validation --

    def validate(self) -> tuple[TaskSpec | None, list[Problem]]:
        """Check what the form holds with the CLI's rules; show each problem next to its input."""
        data = self.to_data()
        local = [p for f in self.fields.values() for p in f.local_problems] + self.space.local_problems
        spec, problems = parse_spec(data)
        problems = local + problems
        self.show(problems)
        return (spec if not problems else None), problems

    def owner(self, problem: Problem) -> tuple[str, str]:
        """Where a problem is shown: ("field", field path), ("row", engine parameter), ("space", "")
        for the engine-parameter part as a whole, or ("top", "") above the form."""
        parts = problem.path.split(".")
        if parts[:2] in (["search", "space"], ["engine", "fixed"]) and len(parts) > 2 and parts[2] in self.space.rows:
            return "row", parts[2]
        if problem.path == "search.space" or (parts[:2] == ["search", "space"] and len(parts) > 2):
            return "space", ""
        field = next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in self.fields),
                     None)
        return ("field", field) if field else ("top", "")

    def show(self, problems: list[Problem], not_in_form: list[Problem] = ()) -> None:
        """Put each problem under the input its path names (the longest matching field path);
        the rest, and ``not_in_form`` (parts of an uploaded file the form cannot hold), on top."""
        by_field: dict[str, list[Problem]] = {p: [] for p in self.fields}
        by_row: dict[str, list[Problem]] = {n: [] for n in self.space.rows}
        space_top: list[Problem] = []
        top: list[Problem] = []
        for problem in problems:
            kind, name = self.owner(problem)
            if kind == "field":
                by_field[name].append(problem)
            elif kind == "row":
                by_row[name].append(problem)
            else:
                (space_top if kind == "space" else top).append(problem)
        for path, field in self.fields.items():
            field.show(by_field[path])
        for name, row in self.space.rows.items():
            row.show(by_row[name])
        self.space.errors.object = "\n".join(f"- {p}" for p in space_top)
        self.space.errors.visible = bool(space_top)
        lines = [f"- {p}" for p in top]
        if not_in_form:
            lines += ["", "In the uploaded file but not kept by the form:", *(f"- {p}" for p in not_in_form)]
        self.top_errors.object = "\n".join(lines)
        self.top_errors.visible = bool(lines)

    def reveal(self, problem: Problem) -> str:
        """Open the card holding a problem's input and return a CSS selector of that input, for
        the page to scroll to."""
        kind, name = self.owner(problem)
        if kind == "field":
            for path, card in self.cards.items():
                if name.startswith(path + "."):
                    card.collapsed = False
            return "." + css_class(name)
        if kind in ("row", "space") and self.space_card is not None:
            self.space_card.collapsed = False
        if kind == "row":
            leaf = problem.path.split(".")[-1]
            widget = leaf if leaf in ("low", "high", "step", "log", "when", "choices") else "mode"
            return f".param-{name.replace('_', '-')}.param-{widget}"
        return ".form-top-errors" if kind == "top" else ".space-errors"

    def widgets(self) -> list[pn.widgets.Widget]:
        """Every input, to watch for changes."""
        return [f.widget for f in self.fields.values()] + list(self.sections.values()) + self.space.widgets()

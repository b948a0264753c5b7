"""The engine-parameter part of the task form: one row per parameter the tuner knows for the task's
engine flavor and version, each either not used, fixed (``engine.fixed``), searched over choices,
or searched over a range (``search.space``), with the catalogue's help text and starting range::

    editor = SpaceEditor()
    editor.load({"tp_size": {"choices": [1, 2]}}, fixed={"kv_cache_dtype": "auto"})
    editor.space()      # {"tp_size": {"choices": [1, 2]}}
    editor.fixed()      # {"kv_cache_dtype": "auto"}

Rows keep the order of the loaded task (a ``when`` condition may only name an earlier parameter).
"""

from __future__ import annotations

from typing import Any

import panel as pn
import yaml

from autotuner.flavors import DEFAULT_FLAVOR, FLAVORS, EngineParam
from autotuner.task.spec import Problem
from serve_app.form_fields import parse_scalar

OFF, FIXED, CHOICES, RANGE = "not used", "fixed", "choices", "range"

def _text(values: Any) -> str:
    return ", ".join("true" if v is True else "false" if v is False else str(v) for v in values)


class ParamRow:
    """The widgets of one engine parameter."""

    def __init__(self, param: EngineParam):
        self.param = param
        allowed = (f" Allowed: {', '.join(map(str, param.choices))}." if param.choices else
                   f" {param.range_text().capitalize()}." if param.low is not None or param.high is not None else "")
        css = [f"param-{param.name.replace('_', '-')}"]  # handles for browser tests
        self.mode = pn.widgets.Select(label=param.name, options=[OFF, FIXED, CHOICES, RANGE], value=OFF, width=190,
                                      description=param.help + allowed, css_classes=[*css, "param-mode"])
        self.value = pn.widgets.TextInput(label="value", width=110, css_classes=[*css, "param-value"])
        self.choices = pn.widgets.TextInput(label="choices", placeholder="comma-separated", width=260,
                                            css_classes=[*css, "param-choices"])
        self.low = pn.widgets.FloatInput(label="low", width=95, css_classes=[*css, "param-low"])
        self.high = pn.widgets.FloatInput(label="high", width=95, css_classes=[*css, "param-high"])
        self.step = pn.widgets.FloatInput(label="step", width=80, css_classes=[*css, "param-step"])
        self.log = pn.widgets.Checkbox(label="log scale", width=85, margin=(28, 5, 5, 10),
                                       css_classes=[*css, "param-log"])
        # The placeholder reads as an instruction, never as a condition already set.
        self.when = pn.widgets.TextInput(label="only when", placeholder="leave empty to always sample", width=230,
                                         description="Sample this parameter only when earlier ones have these values, "
                                                     "as YAML, e.g. {disable_cuda_graph: false}.",
                                         css_classes=[*css, "param-when"])
        self.errors = pn.pane.Markdown("", visible=False, styles={"color": "#b00020", "font-size": "0.85em"})
        self.local_problems: list[Problem] = []
        self._loading = False
        self.mode.param.watch(self._on_mode, "value")
        self.layout = pn.Column(pn.Row(self.mode, self.value, self.choices, self.low, self.high, self.step,
                                       self.log, self.when), self.errors, margin=(0, 0, 4, 0))
        self._show_inputs()

    def _on_mode(self, event: Any) -> None:
        if self._loading:
            return
        # Switching a parameter on starts it from a sensible range, unless the user typed one.
        start = self.param.starting_search
        if event.new == CHOICES and not self.choices.value:
            self.choices.value = _text(start.get("choices") or [self.param.start_value])
        elif event.new == RANGE and self.low.value is None and self.high.value is None and "low" in start:
            self.low.value, self.high.value = start["low"], start["high"]
            self.step.value, self.log.value = start.get("step"), start.get("log", False)
        elif event.new == FIXED and not self.value.value:
            self.value.value = _text([self.param.start_value])
        self._show_inputs()

    def _show_inputs(self) -> None:
        mode = self.mode.value
        self.value.visible = mode == FIXED
        self.choices.visible = mode == CHOICES
        for w in (self.low, self.high, self.step, self.log):
            w.visible = mode == RANGE
        self.when.visible = mode in (CHOICES, RANGE)

    def load(self, space: dict[str, Any] | None, fixed: Any) -> None:
        self.value.value, self.choices.value, self.when.value = "", "", ""
        self.low.value = self.high.value = self.step.value = None
        self.log.value = False
        if space is not None:
            mode = CHOICES if space.get("choices") is not None or "low" not in space and "high" not in space else RANGE
            self.choices.value = _text(space.get("choices") or [])
            self.low.value, self.high.value, self.step.value = space.get("low"), space.get("high"), space.get("step")
            self.log.value = bool(space.get("log", False))
            if space.get("when"):
                self.when.value = yaml.safe_dump(space["when"], default_flow_style=True, width=1000).strip()
        elif fixed is not _ABSENT:
            mode = FIXED
            self.value.value = _text([fixed])
        else:
            mode = OFF
        self._loading = True  # a loaded task is shown as it is, without starting ranges filled in
        try:
            self.mode.value = mode
        finally:
            self._loading = False
        self._show_inputs()

    def space_entry(self) -> dict[str, Any] | None:
        self.local_problems = []
        path = f"search.space.{self.param.name}"
        mode = self.mode.value
        if mode not in (CHOICES, RANGE):
            return None
        entry: dict[str, Any] = {}
        if mode == CHOICES:
            entry["choices"] = [parse_scalar(v) for v in self.choices.value.split(",") if v.strip()]
        else:
            for key in ("low", "high", "step"):
                if getattr(self, key).value is not None:
                    entry[key] = getattr(self, key).value
            if self.log.value:
                entry["log"] = True
        if self.when.value.strip():
            try:
                entry["when"] = yaml.safe_load(self.when.value)
            except yaml.YAMLError as err:
                self.local_problems.append(Problem(f"{path}.when", self.when.value,
                                                   f"not valid YAML: {getattr(err, 'problem', err)}"))
        return entry

    def fixed_entry(self) -> Any:
        return parse_scalar(self.value.value) if self.mode.value == FIXED else _ABSENT

    def show(self, problems: list[Problem]) -> None:
        self.errors.object = "\n".join(f"- {p}" for p in problems)
        self.errors.visible = bool(problems)


_ABSENT: Any = object()


class SpaceEditor:
    """Rows for every parameter of the engine flavor, in the order the task lists them."""

    def __init__(self) -> None:
        self.flavor, self.version = "", ""
        self.rows: dict[str, ParamRow] = {}
        self.order: list[str] = []
        self.errors = pn.pane.Markdown("", visible=False, styles={"color": "#b00020", "font-size": "0.85em"},
                                       css_classes=["space-errors"])
        self.intro = pn.pane.Markdown("", margin=(0, 5))
        self.rows_column = pn.Column(margin=0)
        self.layout = pn.Column(self.intro, self.errors, self.rows_column, margin=0)
        self.use_flavor(DEFAULT_FLAVOR, None)

    def use_flavor(self, flavor: Any, version: Any) -> None:
        """Show the parameters of ``flavor`` at ``version`` (unknown ones: the default flavor, newest version)."""
        engine = FLAVORS.get(flavor if flavor in FLAVORS else DEFAULT_FLAVOR)
        version = version if version in engine.versions() else engine.newest_version()
        if (engine.name, version) == (self.flavor, self.version):
            return
        self.flavor, self.version = engine.name, version
        self.rows = {name: ParamRow(param) for name, param in engine.params(version).items()}
        self.order = list(self.rows)
        self.intro.object = (f"Each {engine.title} {version} parameter is **not used** ({engine.title}'s default), "
                             "**fixed** for every trial (`engine.fixed`), or searched over **choices** or a "
                             "**range** (`search.space`). Hover a name for what it does.")
        self.rows_column.objects = [self.rows[n].layout for n in self.order]

    def load(self, space: dict[str, Any], fixed: dict[str, Any]) -> None:
        listed = [n for n in [*space, *fixed] if n in self.rows]
        self.order = list(dict.fromkeys([*listed, *self.rows]))
        for name, row in self.rows.items():
            raw = space.get(name)
            row.load(raw if isinstance(raw, dict) else None, fixed.get(name, _ABSENT))
        self.rows_column.objects = [self.rows[n].layout for n in self.order]

    def space(self) -> dict[str, Any]:
        out = {}
        for name in self.order:
            entry = self.rows[name].space_entry()
            if entry is not None:
                out[name] = entry
        return out

    def fixed(self) -> dict[str, Any]:
        out = {}
        for name in self.order:
            value = self.rows[name].fixed_entry()
            if value is not _ABSENT:
                out[name] = value
        return out

    @property
    def local_problems(self) -> list[Problem]:
        return [p for row in self.rows.values() for p in row.local_problems]

    def widgets(self) -> list[pn.widgets.Widget]:
        return [w for row in self.rows.values() for w in (row.mode, row.value, row.choices, row.low, row.high,
                                                             row.step, row.log, row.when)]

"""Form inputs for task spec fields: a widget per field chosen from its pydantic type, its help
text from the field's description, and the validation problems shown right under it.

Every input reads back exactly what was loaded into it, invalid values included, so the problems
the form shows are the ones ``autotuner validate`` prints for the same task::

    field = input_for("budget.trials", BudgetSpec.model_fields["trials"])
    field.set(0)
    field.get()                        # 0
    field.show([Problem("budget.trials", 0, "must be greater than or equal to 1")])
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import panel as pn
import yaml
from pydantic.fields import FieldInfo

from autotuner.task.spec import Problem

UNSET: Any = object()  # "leave the field out": the spec's default applies

# Help for the spec fields whose pydantic Field has no description (wording from the README).
EXTRA_HELP = {
    "engine.backend": "local: one engine process per trial on this cluster; ome: one OME InferenceService per trial.",
    "engine.gpus_per_node": "GPUs of one node: tp_size*dp_size of a config must fit in it.",
    "engine.local.env": "Environment variables of the engine process, as {NAME: value}.",
    "engine.ome.namespace": "Namespace of the trials' InferenceServices.",
    "engine.ome.ready_timeout_s": "Seconds to wait for an InferenceService to become ready.",
    "engine.ome.context": "Kubeconfig context; empty: the current one.",
    "search.algorithm": "tpe: Optuna's TPE learns from earlier trials; random: uniform random configs.",
    "workload.scenarios": "genai-bench traffic scenarios, one per line: D(in,out), N(mi,si)/(mo,so), "
                          "U(min,max)/(min,max) or U(in,out) (tokens).",
    "workload.api_backend": "The API flavour genai-bench speaks to the engine.",
    "objective.kind": "goodput_per_gpu: most output tokens/s per GPU at a level meeting the SLOs; "
                      "latency: lowest latency percentile at one concurrency.",
    "objective.latency_metric": "latency objective: which p90 latency is minimised.",
    "objective.slo.ttft_p90_s": "Limit on the p90 time to first token, seconds; empty: no limit.",
    "objective.slo.tpot_p90_s": "Limit on the p90 time per output token, seconds; empty: no limit.",
    "objective.slo.max_error_rate": "Largest share of failed requests a level may have.",
    "budget.trials": "How many configs to try.",
    "budget.wall_time_s": "Stop starting trials after this many seconds; empty: no time limit.",
    "seed": "Seed of the search, for reproducible campaigns.",
}


class FieldInput:
    """One spec field: a widget, how its value is read and written, and its problems."""

    def __init__(self, path: str, widget: pn.widgets.Widget, optional: bool):
        self.path = path
        self.widget = widget
        self.optional = optional
        self.errors = pn.pane.Markdown("", visible=False, css_classes=["field-errors"],
                                       styles={"color": "#b00020", "font-size": "0.85em", "margin-top": "-6px"})
        self.local_problems: list[Problem] = []  # what the form itself finds (text that is not YAML)

    @property
    def layout(self) -> pn.Column:
        return pn.Column(self.widget, self.errors, margin=0)

    def get(self) -> Any:
        value = self.widget.value
        return UNSET if value is None else value

    def set(self, value: Any) -> None:
        self.widget.value = value

    def show(self, problems: list[Problem]) -> None:
        self.errors.object = "\n".join(f"- {p}" for p in problems)
        self.errors.visible = bool(problems)


class CheckboxInput(FieldInput):
    """Checkboxes have no built-in help icon: one is placed next to it."""

    def __init__(self, path: str, widget: pn.widgets.Widget, optional: bool, help_text: str | None):
        super().__init__(path, widget, optional)
        self.help_text = help_text

    @property
    def layout(self) -> pn.Column:
        row = pn.Row(self.widget, pn.widgets.TooltipIcon(value=self.help_text)) if self.help_text else self.widget
        return pn.Column(row, self.errors, margin=0)


class TextInput(FieldInput):
    def get(self) -> Any:
        value = self.widget.value
        return UNSET if self.optional and not value else value

    def set(self, value: Any) -> None:
        self.widget.value = "" if value is None else str(value)


class ChoiceInput(FieldInput):
    def set(self, value: Any) -> None:
        # A value outside the choices (from an uploaded file) is kept, so validation reports it.
        if value is not None and value not in self.widget.options:
            self.widget.options = [*self.widget.options, value]
        self.widget.value = value


class ScalarListInput(FieldInput):
    """A list of numbers as ``1, 4, 16``; items that are not numbers are kept as text."""

    def get(self) -> Any:
        text = self.widget.value.strip()
        if not text:
            return UNSET if self.optional else []
        return [parse_scalar(item) for item in text.split(",") if item.strip()]

    def set(self, value: Any) -> None:
        self.widget.value = ", ".join(str(v) for v in value or [])


class LinesInput(FieldInput):
    """A list of strings, one per line (traffic scenarios contain commas)."""

    def get(self) -> Any:
        return [line.strip() for line in self.widget.value.splitlines() if line.strip()]

    def set(self, value: Any) -> None:
        self.widget.value = "\n".join(str(v) for v in value or [])


class YamlInput(FieldInput):
    """Anything else (mappings, lists of mappings, argv lists) as a short YAML text."""

    def get(self) -> Any:
        text = self.widget.value.strip()
        self.local_problems = []
        if not text:
            return UNSET
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            self.local_problems = [Problem(self.path, text, f"not valid YAML: {getattr(err, 'problem', err)}")]
            return UNSET

    def set(self, value: Any) -> None:
        if value is None:
            self.widget.value = ""
        elif isinstance(value, str):
            self.widget.value = value
        else:
            self.widget.value = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000).strip()


def parse_scalar(text: str) -> Any:
    """A typed value from text the way YAML reads it (``8`` int, ``0.5`` float, ``true`` bool)."""
    try:
        return yaml.safe_load(text.strip())
    except yaml.YAMLError:
        return text.strip()


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None is allowed)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True
    return annotation, False


def css_class(path: str) -> str:
    """``budget.trials`` -> ``field-budget-trials``."""
    return "field-" + path.replace(".", "-").replace("_", "-")


def label_of(path: str) -> str:
    return path.rsplit(".", 1)[-1].replace("_", " ")


def input_for(path: str, info: FieldInfo) -> FieldInput:
    """The input that fits a field's type: text, number, checkbox, choice list, list or YAML."""
    kind, optional = unwrap_optional(info.annotation)
    label, help_text = label_of(path), info.description or EXTRA_HELP.get(path)
    # A CSS class per field path: stable handles for browser tests and custom styling.
    common: dict[str, Any] = {"label": label, "sizing_mode": "stretch_width", "css_classes": [css_class(path)]}
    if help_text:
        common["description"] = help_text
    origin = typing.get_origin(kind)
    if kind is bool:
        return CheckboxInput(path, pn.widgets.Checkbox(label=label, css_classes=[css_class(path)]), optional, help_text)
    if kind is int:
        return FieldInput(path, pn.widgets.IntInput(**common), optional)
    if kind is float:
        return FieldInput(path, pn.widgets.FloatInput(**common), optional)
    if kind is str:
        return TextInput(path, pn.widgets.TextInput(**common), optional)
    if origin is Literal:
        return ChoiceInput(path, pn.widgets.Select(options=list(typing.get_args(kind)), **common), optional)
    if origin is list and typing.get_args(kind) in ((int,), (float,)):
        return ScalarListInput(path, pn.widgets.TextInput(placeholder="1, 8, 32", **common), optional)
    if origin is list and typing.get_args(kind) == (str,) and path.endswith("scenarios"):
        return LinesInput(path, pn.widgets.TextAreaInput(placeholder="one per line", rows=2, **common), optional)
    return YamlInput(path, pn.widgets.TextAreaInput(placeholder="YAML, e.g. {key: value}", rows=1,
                                                    auto_grow=True, **common), optional)

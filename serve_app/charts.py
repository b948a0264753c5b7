"""The task page's Bokeh charts, one set per browser session, redrawn from a :class:`ChartView`
by replacing their data sources (only the downsampled points travel to the browser)::

    charts = TaskCharts(slo_ttft_ms=250, slo_tpot_ms=30, unit="output tok/s per GPU", level_names=["c=1", "c=8"])
    charts.update(chart_view(snapshot))
    charts.layout          # a Panel GridBox
"""

from __future__ import annotations

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, FixedTicker, HoverTool, Range1d, Span
from bokeh.plotting import figure

from serve_app.importance import MIN_TRIALS
from serve_app.views import AxisLimit, ChartView

SIZE = {"height": 300, "sizing_mode": "stretch_width"}


def _figure(title: str, x_label: str, y_label: str, **kwargs) -> figure:
    fig = figure(title=title, x_axis_label=x_label, y_axis_label=y_label, tools="pan,wheel_zoom,box_zoom,reset,save",
                 toolbar_location="above", **SIZE, **kwargs)
    fig.title.text_font_size = "11pt"
    return fig


def _legend_outside(fig: figure) -> None:
    """Legends go under the plot, where they cover no point (the Pareto front runs along the top)."""
    legend = fig.legend[0]
    legend.orientation = "horizontal"
    fig.add_layout(legend, "below")


def _level_hover(renderer) -> HoverTool:
    return HoverTool(renderers=[renderer], tooltips=[
        ("trial", "@trial"), ("concurrency", "@concurrency"), ("tok/s/GPU", "@tok_s_gpu{0}"),
        ("TTFT p90", "@ttft_ms{0} ms"), ("TPOT p90", "@tpot_ms{0.0} ms")])


class TaskCharts:
    """Best score over time, throughput vs p90 TTFT / TPOT (SLO lines, Pareto front), per-trial
    curves over the load levels, and parameter importance."""

    def __init__(self, slo_ttft_ms: float | None, slo_tpot_ms: float | None, unit: str, level_names: list[str]):
        self.best_line = ColumnDataSource({"minutes": [], "best": []})
        self.trial_scores = ColumnDataSource({"minutes": [], "score": [], "trial": []})
        self.scatter = ColumnDataSource({"ttft_ms": [], "tpot_ms": [], "tok_s_gpu": [], "trial": [],
                                         "concurrency": [], "color": []})
        self.pareto = ColumnDataSource({"ttft_ms": [], "tok_s_gpu": []})
        self.curves = ColumnDataSource({"xs": [], "ys": [], "trial": [], "color": [], "width": []})
        self.importance = ColumnDataSource({"param": [], "importance": []})

        progress = _figure("Best objective so far", "minutes since start", unit)
        scores = progress.scatter("minutes", "score", source=self.trial_scores, size=5, alpha=0.4,
                                  legend_label="trial score")
        progress.step("minutes", "best", source=self.best_line, mode="after", line_width=2, color="#1f77b4",
                      legend_label="best so far")
        _legend_outside(progress)
        progress.add_tools(HoverTool(renderers=[scores], tooltips=[("trial", "@trial"), ("score", "@score{0.0}")]))

        ttft = _figure("Throughput per GPU vs p90 TTFT (green: meets SLOs)", "p90 TTFT (ms)", "output tok/s per GPU",
                       x_range=Range1d(0, 1))
        ttft_points = ttft.scatter("ttft_ms", "tok_s_gpu", color="color", source=self.scatter, size=6, alpha=0.6)
        ttft.line("ttft_ms", "tok_s_gpu", source=self.pareto, color="black", line_width=2, legend_label="Pareto front")
        _legend_outside(ttft)
        tpot = _figure("Throughput per GPU vs p90 TPOT", "p90 TPOT (ms)", "output tok/s per GPU", y_range=ttft.y_range,
                       x_range=Range1d(0, 1))
        tpot_points = tpot.scatter("tpot_ms", "tok_s_gpu", color="color", source=self.scatter, size=6, alpha=0.6)
        slo_charts = ((ttft, ttft_points, slo_ttft_ms, "TTFT"), (tpot, tpot_points, slo_tpot_ms, "TPOT"))
        for fig, points, limit, what in slo_charts:
            fig.add_tools(_level_hover(points))
            if limit:
                fig.add_layout(Span(location=limit, dimension="height", line_color="#d62728", line_dash="dashed",
                                    line_width=2))
                fig.title.text += f"  (SLO {what} {limit:g} ms)"

        curves = _figure("Throughput per GPU over the load levels (best trials; gold: best)",
                                           "load level", "output tok/s per GPU")
        ticks = list(range(1, len(level_names) + 1))  # one tick per load level, labelled with its concurrency
        curves.xaxis.ticker = FixedTicker(ticks=ticks)
        curves.xaxis.major_label_overrides = dict(zip(ticks, level_names, strict=True))
        curves.multi_line("xs", "ys", source=self.curves, line_color="color", line_width="width", alpha=0.8)
        curves.add_tools(HoverTool(tooltips=[("trial", "@trial")]))

        self.ttft_fig, self.tpot_fig = ttft, tpot
        self.axis_note = pn.pane.Markdown("", margin=(0, 10), css_classes=["axis-note"])
        self.importance_fig = _figure("Parameter importance (Optuna PED-ANOVA: what sets the top trials apart)",
                                      "importance (share)", "", y_range=FactorRange(factors=[]))
        self.importance_fig.hbar(y="param", right="importance", height=0.7, source=self.importance)
        self.importance_note = pn.pane.Markdown("", margin=(0, 10))
        self.figures = [progress, ttft, tpot, curves, self.importance_fig]
        self.layout = pn.Column(
            pn.GridBox(*(pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.figures), ncols=2,
                       sizing_mode="stretch_width"),
            self.axis_note, self.importance_note, sizing_mode="stretch_width")

    def update(self, view: ChartView) -> None:
        self.best_line.data = view.best_line.columns
        self.trial_scores.data = view.trial_scores.columns
        self.scatter.data = view.scatter.columns
        self.pareto.data = view.pareto.columns
        self.curves.data = view.curves.columns
        factors = list(view.importance.columns["param"])
        if list(self.importance_fig.y_range.factors) != factors:
            self.importance_fig.y_range.factors = factors
        self.importance.data = view.importance.columns
        self.importance_note.object = "" if factors else (
            f"_Parameter importance appears once {MIN_TRIALS} trials have ended with a score._")
        notes = []
        for fig, axis, what in ((self.ttft_fig, view.ttft_axis, "TTFT"), (self.tpot_fig, view.tpot_axis, "TPOT")):
            _clip(fig, axis)
            notes.append(axis.note(what))
        self.axis_note.object = " ".join(f"_{n}_" for n in notes if n)


def _clip(fig: figure, axis: AxisLimit) -> None:
    """End a latency axis where :func:`serve_app.views.axis_limit` says (reset returns there too)."""
    if fig.x_range.end != axis.end:
        fig.x_range.end = fig.x_range.reset_end = axis.end

"""Plotly figures shared by the pages: one face's emotion probabilities, a group's emotion distribution, the
engagement timeline of a stream or video, and a class's engagement curve. Figures only: they take data and never read
files or the class database.

Layout rules kept here for every figure: a legend sits to the right of the plot, or above it under the title when a
right-hand axis takes that side (``LEGEND_RIGHT``, ``LEGEND_ABOVE``), never over an axis title; axes that count
faces or students show whole numbers only (``count_axis``)."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from fer_core.inference.annotate import emotion_color
from fer_core.live import engagement as eng

LEGEND_RIGHT = dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top")
# above the plot area, under the title: give the figure a top margin of LEGEND_ABOVE_MARGIN
LEGEND_ABOVE = dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom")
LEGEND_ABOVE_MARGIN = 80


def emotion_colours(labels: Sequence[str]) -> dict[str, str]:
    """Chart colours matching the boxes drawn on images and video (``fer_core.inference.annotate``'s colours)."""
    return {label: emotion_color(label) for label in labels}


def count_axis(top: float, title: str, headroom: float = 1.0) -> dict:
    """A y axis for counts of people from 0 to ``top * headroom``: whole-number ticks only (at most ~10 of them)."""
    top = max(float(top), 1.0)
    return dict(title=title, range=[0, top * headroom], rangemode="tozero", tickformat=",d",
                dtick=max(1, math.ceil(top / 10)))


def probability_bar(labels: Sequence[str], probabilities: Sequence[float], title: str | None = None,
                    height: int = 260) -> go.Figure:
    """Horizontal bars of one face's probabilities (percent), in the model's label order, coloured per emotion."""
    labels = list(labels)
    pct = [100.0 * float(p) for p in probabilities]
    if len(pct) != len(labels):
        raise ValueError(f"Need one probability per label. Received: {len(pct)} probabilities for {len(labels)} labels")
    fig = go.Figure(go.Bar(
        x=pct, y=labels, orientation="h", marker_color=[emotion_color(k) for k in labels],
        text=[f"{v:.1f}%" for v in pct], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=40, t=40 if title else 10, b=10),
                      xaxis=dict(range=[0, 100], title="probability (%)"),
                      yaxis=dict(autorange="reversed"), showlegend=False)
    return fig


def emotion_distribution(counts: Mapping[str, int | float], title: str | None = "Emotions of the group",
                         height: int = 300, unit: str = "faces") -> go.Figure:
    """Bars of how many faces (or students: ``unit``) show each emotion (``{label: count}``), with each emotion's
    share of the group."""
    labels = list(counts)
    values = [counts[k] for k in labels]
    total = sum(values) or 1
    fig = go.Figure(go.Bar(
        x=labels, y=values, marker_color=[emotion_color(k) for k in labels],
        text=[f"{v:g} ({100 * v / total:.0f}%)" if v else "" for v in values], textposition="outside",
        cliponaxis=False, hovertemplate=f"%{{x}}: %{{y}} {unit}<extra></extra>"))
    top = max(values or [0]) or 1
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      yaxis=count_axis(top, unit, headroom=1.2),
                      uniformtext=dict(minsize=12, mode="show"), showlegend=False)
    return fig


def mean_probabilities(labels: Sequence[str], rows: Sequence[Sequence[float]], title: str | None = "Average over faces",
                       height: int = 260) -> go.Figure:
    """``probability_bar`` of the mean of several faces' probabilities (the group's average expression)."""
    n = len(rows)
    mean = [sum(float(r[i]) for r in rows) / n if n else 0.0 for i in range(len(labels))]
    return probability_bar(labels, mean, title=title, height=height)


def attention_value(timeline: pd.DataFrame) -> pd.Series:
    """Per row of a recorder timeline: 1 in view and facing the screen (or facing unknown), 0.5 in view and turned
    away, 0 not in view: the class dashboard's sparkline scale."""
    present = timeline["present"].astype(bool)
    away = timeline["facing"].map(lambda v: v is False or v == 0).astype(bool)
    return present.astype(float) * (1.0 - 0.5 * away.astype(float))


def timeline_figure(timeline, labels, max_points: int = 600) -> go.Figure:
    """Attention per face over the session (top: in view and facing the screen, turned away, not in view) and the
    share of each dominant emotion (bottom), from an ``EngagementRecorder`` timeline (the Webcam page's, or a
    video's). The engagement index is not drawn: it stays in the downloads as a named research index.

    Long sessions are shown in bins of several seconds so that the chart stays light to redraw every few seconds.
    """
    n_seconds = int(timeline["second"].max()) + 1 if len(timeline) else 1
    step = max(1, -(-n_seconds // max_points))
    binned = timeline.assign(second=timeline["second"] // step * step)
    if len(binned):
        binned = binned.assign(attention=attention_value(binned))
    colours = emotion_colours(labels)
    traces = []
    for face, rows in binned.groupby("face", sort=False):
        curve = rows.groupby("second")["attention"].mean()
        traces.append(go.Scatter(x=curve.index, y=curve.to_numpy(), mode="lines", name=face, legendgroup="faces",
                                 yaxis="y", connectgaps=False, line_shape="hv"))
    shares = eng.emotion_shares(timeline, labels, window=10)
    if step > 1 and len(shares):
        shares = shares.groupby(shares.index // step * step).mean()
    for label in labels:
        if label in shares and shares[label].any():
            traces.append(go.Scatter(x=shares.index, y=shares[label].to_numpy(), name=label, stackgroup="emotions",
                                     mode="lines", yaxis="y2", line=dict(width=0.5, color=colours[label])))
    layout = dict(
        height=520, margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND_RIGHT,
        xaxis=dict(anchor="y2", range=[0, max(n_seconds - 1, 1)],
                   title="seconds since start" + (f" ({step} s bins)" if step > 1 else "")),
        yaxis=dict(domain=[0.5, 1.0], range=[-0.05, 1.05], tickvals=[0, 0.5, 1],
                   ticktext=["not in view", "turned away", "facing"], title="attention"),
        yaxis2=dict(domain=[0.0, 0.4], range=[0, 1], tickformat=".0%", title="emotions"),
        annotations=[dict(text="In view and facing the screen, per face (a face with no head pose counts as facing)",
                          xref="paper", yref="paper", x=0, y=1.06, showarrow=False, xanchor="left"),
                     dict(text="Emotion shares of present faces (10 s window)", xref="paper", yref="paper", x=0,
                          y=0.45, showarrow=False, xanchor="left")])
    return go.Figure(data=traces, layout=layout)


def class_curve_figure(curve) -> go.Figure:
    """How many students were in view, and how many faced the screen, over the lesson
    (``fer_core.classroom.figures.class_curve``): counts of students on one whole-number axis, the legend to the right
    of the plot (no index, no second axis)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["minute"], y=curve["present"], mode="lines", name="in view",
                             line=dict(color="#1f77b4", width=2), line_shape="hv"))
    if "facing" in curve:
        fig.add_trace(go.Scatter(x=curve["minute"], y=curve["facing"], mode="lines", name="facing the screen",
                                 line=dict(color="#2ca02c", width=2, dash="dot"), line_shape="hv"))
    top = max(1, int(curve["reporting"].max()) if len(curve) and "reporting" in curve else
              int(curve["present"].max()) if len(curve) else 1)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND_RIGHT,
                      title=dict(text="Students in view and facing the screen", y=0.98, yanchor="top"),
                      xaxis=dict(title="minutes since the session started"),
                      yaxis=count_axis(top + 0.5, "students"))
    return fig

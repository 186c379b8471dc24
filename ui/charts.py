"""Plotly figures shared by the pages: one face's emotion probabilities, and a group's emotion distribution."""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from fer_core.inference.annotate import emotion_color


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
                         height: int = 300) -> go.Figure:
    """Bars of how many faces show each emotion (``{label: count}``), with each emotion's share of the group."""
    labels = list(counts)
    values = [counts[k] for k in labels]
    total = sum(values) or 1
    fig = go.Figure(go.Bar(
        x=labels, y=values, marker_color=[emotion_color(k) for k in labels],
        text=[f"{v:g} ({100 * v / total:.0f}%)" if v else "" for v in values], textposition="outside",
        cliponaxis=False, hovertemplate="%{x}: %{y} faces<extra></extra>"))
    top = max(values or [0]) or 1
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      yaxis=dict(title="faces", range=[0, top * 1.2], dtick=1 if top <= 10 else None),
                      uniformtext=dict(minsize=12, mode="show"), showlegend=False)
    return fig


def mean_probabilities(labels: Sequence[str], rows: Sequence[Sequence[float]], title: str | None = "Average over faces",
                       height: int = 260) -> go.Figure:
    """``probability_bar`` of the mean of several faces' probabilities (the group's average expression)."""
    n = len(rows)
    mean = [sum(float(r[i]) for r in rows) / n if n else 0.0 for i in range(len(labels))]
    return probability_bar(labels, mean, title=title, height=height)

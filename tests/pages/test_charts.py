"""Every figure the pages draw keeps its legend off the axis titles (to the right of the plot, or above it under the
title) and counts people in whole numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_core.labels import EMOTIONS
from fer_core.live.engagement import EngagementRecorder, FaceObservation
from ui import charts, training_runs

from factories import CM, LABELS


def timeline() -> pd.DataFrame:
    rec = EngagementRecorder(EMOTIONS)
    p = np.eye(len(EMOTIONS))[3]
    for t in np.arange(0, 5, 0.1):
        rec.observe(float(t), [FaceObservation("Face 1", p, eyes=2), FaceObservation("Face 2", p, eyes=1)])
    return rec.timeline()


def class_curve() -> pd.DataFrame:
    return pd.DataFrame({"minute": [0.0, 0.5, 1.0], "mean_engagement": [0.5, 0.6, 0.7], "present": [3, 4, 4],
                         "facing": [2, 4, 3], "reporting": [3, 4, 4]})


HISTORY = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "accuracy": 0.5, "val_accuracy": 0.4, "lr": 0.01}
           for e in (1, 2, 3)]
METRICS = {"per_class": {k: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 10} for k in LABELS}}
FIGURES = {
    "timeline": lambda: charts.timeline_figure(timeline(), EMOTIONS),
    "class curve": lambda: charts.class_curve_figure(class_curve()),
    "training curves": lambda: training_runs.curves_figure([("a", HISTORY, False), ("b", HISTORY, True)]),
    "per class": lambda: training_runs.per_class_figure(METRICS, "Precision, recall and F1 per class"),
    "F1 comparison": lambda: training_runs.f1_comparison_figure([("a", METRICS), ("b", METRICS)]),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_legend_sits_right_of_the_plot_or_above_it(name):
    fig = FIGURES[name]()
    legend = fig.layout.legend
    right = legend.x is not None and legend.x >= 1 and legend.xanchor == "left"
    above = (legend.orientation == "h" and legend.y is not None and legend.y >= 1 and legend.yanchor == "bottom"
             and fig.layout.margin.t >= charts.LEGEND_ABOVE_MARGIN)
    assert right or above, f"{name}: legend {legend.to_plotly_json()}"
    if above:  # the right side is taken by an axis title there
        assert fig.layout.yaxis2.side == "right" and fig.layout.title.y > 0.9


def test_count_axes_show_whole_numbers_only():
    for top in (1, 3, 10, 11, 37, 250):
        axis = charts.count_axis(top, "students")
        assert axis["tickformat"] == ",d" and isinstance(axis["dtick"], int) and axis["dtick"] >= 1
        assert top / axis["dtick"] <= 10
    curve = charts.class_curve_figure(class_curve())
    # issue 26: one count axis (students in view, facing the screen), whole numbers only, no second axis
    assert curve.layout.yaxis.tickformat == ",d" and curve.layout.yaxis.dtick == 1
    assert "yaxis2" not in curve.layout.to_plotly_json()
    assert [t.name for t in curve.data] == ["in view", "facing the screen"]
    emotions = charts.emotion_distribution({k: i for i, k in enumerate(EMOTIONS)}, unit="students")
    assert emotions.layout.yaxis.tickformat == ",d" and emotions.layout.yaxis.title.text == "students"


def test_confusion_matrix_has_no_legend_to_place():
    fig = training_runs.confusion_figure(LABELS, CM, normalise=False)
    assert not any(getattr(t, "showlegend", False) for t in fig.data)


def test_timeline_draws_attention_not_the_engagement_index():
    """Issue 26: the Webcam and Video pages draw in view / facing the screen per face, as the class dashboard does;
    Sharma's index stays in the downloads."""
    rec = EngagementRecorder(EMOTIONS)
    p = np.eye(len(EMOTIONS))[0]  # angry: the index would call a facing, angry face "nominally engaged"
    for t in np.arange(0, 6, 0.25):
        facing = None if t < 2 else t < 4  # unknown (no landmarks), then facing, then turned away
        rec.observe(float(t), [FaceObservation("Face 1", p, facing=facing)] if t < 5 else [])
    values = charts.attention_value(rec.timeline())
    assert list(values) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    fig = charts.timeline_figure(rec.timeline(), EMOTIONS)
    face = next(t for t in fig.data if t.name == "Face 1")
    assert list(face.y) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    assert list(fig.layout.yaxis.ticktext) == ["not in view", "turned away", "facing"]
    assert all("ngagement" not in a.text for a in fig.layout.annotations)


def test_training_curves_keep_the_two_panels_axes_apart_and_epoch_ticks_round():
    """The loss panel's learning-rate axis (right) and the accuracy panel's axis (left) share the gap between them:
    the gap leaves room for both tick columns, and only the accuracy side carries a title there."""
    long = [dict(h, epoch=e) for e in range(1, 151) for h in HISTORY[:1]]
    fig = training_runs.curves_figure([("a", long, False)])
    layout = fig.layout
    lr_axis = next(a for a in (layout.yaxis2, layout.yaxis3) if a.overlaying)
    assert lr_axis.side == "right" and not (lr_axis.title and lr_axis.title.text)
    assert layout.xaxis2.domain[0] - layout.xaxis.domain[1] >= 0.2
    assert layout.xaxis.dtick == 20 and layout.xaxis.tick0 == 0
    assert [training_runs.epoch_tick_step(n) for n in (3, 12, 13, 60, 150, 300, 9000)] == [1, 1, 2, 5, 20, 25, 750]

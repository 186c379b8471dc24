"""The per-face summary table of the Webcam and Video analysis pages (``EngagementRecorder.summary_table``), with
its columns explained where a teacher reads them."""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import streamlit as st

from fer_core.live import engagement as eng


def column_config(labels: Sequence[str]) -> dict:
    """Formats and plain-words help for the summary table's columns."""
    return {
        "time present (s)": st.column_config.NumberColumn(help="Seconds in which the face was seen in a frame."),
        "present (%)": st.column_config.NumberColumn(format="%.0f%%", help="Share of the recorded seconds in view."),
        "facing the screen (%)": st.column_config.NumberColumn(
            format="%.0f%%", help=f"Of the seconds in view, the share facing the screen: {eng.FACING_RULE}. Empty "
                                  "when the detector gives no landmarks (Haar)."),
        eng.LONGEST_DISENGAGED_COLUMN: st.column_config.NumberColumn(
            help="The longest run of seconds not in view or looking away. A student counts as disengaged after "
                 f"{eng.DISENGAGED_RULE}."),
        **{f"{k} (%)": st.column_config.NumberColumn(
            format="%.0f%%", help=f"Share of the seconds in view with {k} as the most likely expression.")
           for k in labels},
    }


def show(table: pd.DataFrame, labels: Sequence[str], **kwargs) -> None:
    """The summary table with ``column_config``."""
    st.dataframe(table, hide_index=True, column_config=column_config(labels), **kwargs)

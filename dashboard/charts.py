"""Plotly charts in French: "12 345,6" on axes and in tooltips, never "70k" nor "1.5".

Plotly formats numbers with d3: its `separators` setting gives the decimal mark and the
thousands separator (here a comma and the narrow no-break space of French typography), and
an axis whose `exponentformat` is "none" writes "70 000" rather than the SI "70k". Every chart
builder of the dashboard passes its figure through `french`, and the tests read the figures.
"""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard import fmt

#: d3's separators: decimal mark, then thousands separator.
SEPARATORS = "," + fmt.NNBSP


def french(fig: go.Figure) -> go.Figure:
    """French numbers on every axis and in every tooltip of `fig` (which it returns)."""
    fig.update_layout(separators=SEPARATORS)
    axes = dict(exponentformat="none", separatethousands=True)
    fig.update_xaxes(**axes)
    fig.update_yaxes(**axes)
    for name in ("yaxis2", "xaxis2"):
        if name in fig.layout and fig.layout[name] is not None:
            fig.layout[name].update(**axes)
    return fig

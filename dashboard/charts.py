"""Plotly charts in French: "12 345,6" on axes and in tooltips, never "70k" nor "1.5".

Plotly formats numbers with d3: its `separators` setting gives the decimal mark and the
thousands separator (here a comma and the narrow no-break space of French typography), and
an axis whose `exponentformat` is "none" writes "70 000" rather than the SI "70k". Every chart
builder of the dashboard passes its figure through `french`, and the tests read the figures.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboard import fmt

#: d3's separators: decimal mark, then thousands separator.
SEPARATORS = "," + fmt.NNBSP


#: What `french` sets on every axis.
AXES = {"exponentformat": "none", "separatethousands": True}


def french(fig: go.Figure) -> go.Figure:
    """French numbers on every axis and in every tooltip of `fig` (which it returns).

    One `update_layout` naming the axes the figure has (the two main ones at least): plotly's
    `update_xaxes` / `update_yaxes` walk the layout through their selectors, about 4 ms of server
    CPU per chart where this takes under 1 ms, for the same figure (tests/test_charts.py).
    """
    names = {"xaxis", "yaxis"} | {k for k in fig.layout.to_plotly_json() if k.startswith(("xaxis", "yaxis"))}
    fig.update_layout(separators=SEPARATORS, **{name: AXES for name in sorted(names)})
    return fig


def figure(data: Any, layout: dict[str, Any]) -> go.Figure:
    """A figure built in one go, its layout in French (the settings of `french`, merged in).

    Plotly validates every `update_layout` / `update_*axes` call on its own: a chart built with
    three or four of them cost 8 to 10 ms of server CPU where one constructor takes about 5
    (tests/test_serve_cpu.py checks that both give the same figure).
    """
    layout = dict(layout, separators=SEPARATORS)
    for name in sorted({"xaxis", "yaxis"} | {k for k in layout if k.startswith(("xaxis", "yaxis"))}):
        layout[name] = {**layout.get(name, {}), **AXES}
    return go.Figure(data, layout=layout)

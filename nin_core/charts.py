"""Plotly figures for the dashboard, built from plain data so they are tested without Streamlit."""

from __future__ import annotations

import plotly.graph_objects as go

from .store import MetricPoint

CURVES = (("train_loss", "train loss", "solid"), ("train_acc", "train acc", "dash"), ("test_acc", "test acc", "dot"))
PALETTE = ("#2F6FED", "#E8590C", "#2B8A3E", "#AE3EC9", "#C92A2A", "#1098AD", "#5C940D", "#D6336C")


def curves_figure(runs: dict[str, list[MetricPoint]], epochs: int | None = None) -> go.Figure:
    """d2l's animator figure: train loss, train acc and test acc against epoch, one colour per run.
    With one run the three curves take three colours, as in the book."""
    fig = go.Figure()
    single = len(runs) == 1
    for r, (label, points) in enumerate(runs.items()):
        for c, (attr, name, dash) in enumerate(CURVES):
            xs = [p.epoch for p in points if getattr(p, attr) is not None]
            ys = [getattr(p, attr) for p in points if getattr(p, attr) is not None]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, name=name if single else f"{label}: {name}",
                mode="lines+markers" if attr == "test_acc" or len(xs) < 3 else "lines",
                line={"color": PALETTE[c if single else r % len(PALETTE)], "dash": "solid" if single else dash},
                legendgroup=label))
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss / accuracy", height=380,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": -0.2},
                      uirevision="curves")  # keeps zoom and legend choices across live updates
    if epochs:
        fig.update_xaxes(range=[0, epochs])
    return fig

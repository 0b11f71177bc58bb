"""Plotly figures and tables for the dashboard, built from plain data so they are tested without Streamlit."""

from __future__ import annotations

import io
from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler
from PIL import Image

from nin_core.i18n import N_, _
from nin_core.network.memory import format_bytes
from nin_core.network.metrics import Band, MetricPoint
from nin_core.network.shapes import ShapeTable

CURVES = (("train_loss", N_("train loss"), "solid"), ("train_acc", N_("train acc"), "dash"),
          ("test_acc", N_("test acc"), "dot"))  # each curve's name, shown with _()
PALETTE = ("#2F6FED", "#E8590C", "#2B8A3E", "#AE3EC9", "#C92A2A", "#1098AD", "#5C940D", "#D6336C")


LOSS_TOP = 2.5  # the y axis reaches at least this far: ln 10 = 2.303, where every run's loss starts


def curves_top(runs: dict[str, list[MetricPoint]]) -> tuple[float, list[str]]:
    """Where the y axis ends, and the runs whose loss goes past it. The axis reaches LOSS_TOP, or the highest
    loss of a run that stays below twice the rest's: one run that blew up (a loss of 27) is cut off, with its name,
    rather than squashing every other curve into the bottom of the chart."""
    highest = {label: max((p.train_loss for p in points if p.train_loss is not None), default=0.0)
               for label, points in runs.items()}
    top = LOSS_TOP
    for value in sorted(highest.values()):
        if value > 2 * top:
            break
        top = max(top, value)
    return top * 1.05, [label for label, value in highest.items() if value > top * 1.05]


def curves_figure(runs: dict[str, list[MetricPoint]], epochs: int | None = None,
                  bands: dict[str, dict[str, Band]] | None = None) -> go.Figure:
    """d2l's animator figure: train loss, train acc and test acc against epoch, one colour per run.
    With one run the three curves take three colours, as in the book. ``bands``: for a group of seeds drawn as
    its mean, each curve's band from the lowest to the highest seed, shaded in the curve's colour."""
    fig = go.Figure()
    single = len(runs) == 1
    top, cut = curves_top(runs)
    for r, (label, points) in enumerate(runs.items()):
        for c, (attr, curve, dash) in enumerate(CURVES):
            name = _(curve)
            xs = [p.epoch for p in points if getattr(p, attr) is not None]
            ys = [getattr(p, attr) for p in points if getattr(p, attr) is not None]
            colour = PALETTE[c if single else r % len(PALETTE)]
            band = (bands or {}).get(label, {}).get(attr)
            if band is not None:
                _add_band(fig, band, colour, label)
            fig.add_trace(go.Scatter(
                # plotly reads HTML in names (<a href>, <b>): a run's name, typed by someone, stays text
                x=xs, y=ys,
                name=name if single else _("{run}: {curve}").format(run=escape(label, quote=False), curve=name),
                mode="lines+markers" if attr == "test_acc" or len(xs) < 3 else "lines",
                line={"color": colour, "dash": "solid" if single else dash},
                legendgroup=label))
    fig.update_layout(xaxis_title=_("epoch"), yaxis_title=_("loss / accuracy"), height=380, yaxis_range=[0, top],
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": -0.2},
                      uirevision="curves")  # keeps zoom and legend choices across live updates
    if cut:
        fig.update_layout(title={"text": _("Loss above {top} not shown: {runs}").format(
            top=format(top, ".2g"), runs=", ".join(escape(name, quote=False) for name in cut)), "font": {"size": 13}})
    if epochs:
        fig.update_xaxes(range=[0, epochs])
    return fig


def _add_band(fig: go.Figure, band: Band, colour: str, label: str) -> None:
    """The band between the lowest and highest seed: the high edge, then the low one filled up to it."""
    fill = "rgba({}, {}, {}, 0.18)".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))
    fig.add_trace(go.Scatter(x=band.epochs, y=band.high, mode="lines", line={"width": 0}, showlegend=False,
                             hoverinfo="skip", legendgroup=label))
    fig.add_trace(go.Scatter(x=band.epochs, y=band.low, mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor=fill, name=_("lowest to highest seed"), showlegend=False, hoverinfo="skip",
                             legendgroup=label))


# --- tables and figures for the other pages ----------------------------------------------------------------
# Everything below is built from plain data (a ShapeTable, runs, an Evaluation) and returns a DataFrame, a
# Styler, a figure or an image, so the pages stay descriptions of their screens.

FAIL_STYLE = "background-color: #FFD8D8; color: #8B0000; font-weight: 600"
# The shape frame's columns (its data, in English); shape_styler shows them in the reader's language.
SHAPE_COLUMNS = (N_("index"), N_("layer"), N_("description"), N_("output shape"), N_("params"), N_("multiply-adds"),
                 N_("receptive field"))
ACTIVATION_MEMORY, PROBLEM = N_("activation memory"), N_("problem")


def format_shape(shape: tuple[int, ...] | list[int] | None) -> str:
    return str(list(shape)) if shape else "—"


def shape_frame(table: ShapeTable) -> pd.DataFrame:
    """One row per layer, as far as the input gets; a failing layer's row holds its reason under ``problem``. With
    a memory attached, ``activation memory``: the bytes each layer keeps for the backward pass over the batch."""
    rows = [{"index": r.index, "layer": r.layer, "description": r.description,
             "output shape": format_shape(r.output_shape), "params": r.params, "multiply-adds": r.mult_adds,
             "receptive field": r.receptive_field} for r in table.rows]
    frame = pd.DataFrame(rows, columns=list(SHAPE_COLUMNS))
    frame["receptive field"] = frame["receptive field"].astype("Int64")
    if table.memory:
        frame.insert(6, ACTIVATION_MEMORY, [table.activation_bytes(r) for r in table.rows])
    if table.error:
        frame[PROBLEM] = [r.error or "" for r in table.rows]
    return frame


def shape_styler(table: ShapeTable) -> Styler:
    """The shape frame with thousands separators, and the failing layer's row in red; its columns named in the
    reader's language."""
    frame = shape_frame(table).rename(columns=_)
    failing = len(frame) - 1 if table.error else None

    def paint(row: pd.Series) -> list[str]:
        return [FAIL_STYLE if row.name == failing else ""] * len(row)

    styler = (frame.style.apply(paint, axis=1)
              .format("{:,}", subset=[_("params"), _("multiply-adds")])
              .format(lambda v: "—" if pd.isna(v) else f"{v:,}", subset=[_("receptive field")]))
    return styler.format(format_bytes, subset=[_(ACTIVATION_MEMORY)]) if table.memory else styler


def shape_cost_figure(table: ShapeTable) -> go.Figure:
    """Each layer's share of the parameters, of the multiply-adds and (with a memory attached) of the saved
    activations; hover: the amounts. A table that fails at a layer has only the layers up to it: the title says
    the shares are of that partial total."""
    labels = [f"{r.index} {r.layer}" for r in table.rows]
    series = [(_("parameters"), [r.params for r in table.rows], _("%{customdata:,} parameters")),
              (_("multiply-adds"), [r.mult_adds for r in table.rows], _("%{customdata:,} multiply-adds"))]
    if memory := table.memory:
        series.append((_(ACTIVATION_MEMORY), [memory.layer_batch_bytes(r.index) for r in table.rows],
                       _("%{customdata:.3s}B kept for the backward pass")))
    fig = go.Figure()
    for (name, values, amount), color in zip(series, PALETTE, strict=False):
        total = sum(values) or 1
        fig.add_trace(go.Bar(x=labels, y=[v / total for v in values], name=name, marker_color=color,
                             customdata=values, hovertemplate="%{x}<br>" + amount + " (%{y:.1%})<extra></extra>"))
    title = (_("Partial: only layers 0–{last}, up to the failing one; the shares are of their total, not the whole "
               "network's").format(last=table.rows[-1].index) if table.error else None)
    fig.update_layout(barmode="group", yaxis_title=_("share of the total"), yaxis_tickformat=".0%", height=340,
                      title={"text": title, "font": {"size": 13}}, legend={"orientation": "h", "y": 1.12},
                      margin={"l": 10, "r": 10, "t": 60 if title else 30, "b": 10})
    return fig


def confusion_figure(confusion: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes, the diagonal being the right answers. The
    classes' names (``data.CLASS_NAMES``, in English) are shown in the reader's language, as the book gives them."""
    names = [_(name) for name in class_names]
    fig = go.Figure(go.Heatmap(z=np.asarray(confusion).tolist(), x=names, y=names, colorscale="Blues",
                               showscale=False, texttemplate="%{z}",
                               hovertemplate=_("true %{y}, predicted %{x}: %{z}") + "<extra></extra>"))
    fig.update_layout(xaxis_title=_("predicted class"), yaxis_title=_("true class"), yaxis_autorange="reversed",
                      height=460,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def per_class_figure(per_class_accuracy: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """Each class's accuracy (its recall); the classes named in the reader's language."""
    values = [None if np.isnan(v) else float(v) for v in per_class_accuracy]
    fig = go.Figure(go.Bar(x=[_(name) for name in class_names], y=values, marker_color=PALETTE[2],
                           text=["—" if v is None else f"{v:.0%}" for v in values], textposition="auto",
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(yaxis={"range": [0, 1], "tickformat": ".0%", "title": _("accuracy")}, height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def enlarge(image: Image.Image | np.ndarray, side: int = 168) -> Image.Image:
    """A small image scaled up with crisp pixels, for showing 28 px images at a readable size."""
    img = Image.fromarray(np.asarray(image, dtype=np.uint8)) if isinstance(image, np.ndarray) else image
    if img.width >= side:
        return img
    return img.resize((side, round(side * img.height / img.width)), Image.Resampling.NEAREST)


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """An image (or a uint8 array, such as a 28×28 test image) encoded as PNG."""
    img = Image.fromarray(np.asarray(image, dtype=np.uint8)) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()

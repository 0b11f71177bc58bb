"""The runs as tables and figures: every run with its settings and final metrics, and hyperparameters against
test accuracy."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

from nin_core.network.config import RunConfig
from nin_core.network.durations import format_duration
from nin_core.runs.store import Run


def _channels(config: RunConfig) -> str:
    return "-".join(str(b.out_channels) for b in config.arch.blocks)


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """Every run with its key settings, final metrics, duration and device."""
    rows = []
    for r in runs:
        a, t = r.config.arch, r.config.train
        rows.append({
            "id": r.id, "name": r.name, "status": r.status, "channels": _channels(r.config), "resize": a.resize,
            "epochs": t.epochs, "lr": t.lr, "batch": t.batch_size, "optimizer": t.optimizer,
            "train size": t.train_size or 60_000,
            "train loss": r.final.get("train_loss"), "train acc": r.final.get("train_acc"),
            "test acc": r.final.get("test_acc"), "examples/s": r.final.get("examples_per_sec"),
            "duration": format_duration(r.duration_s), "device": r.device or "—",
        })
    columns = ["id", "name", "status", "channels", "resize", "epochs", "lr", "batch", "optimizer", "train size",
               "train loss", "train acc", "test acc", "examples/s", "duration", "device"]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("train loss", "train acc", "test acc", "examples/s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


RUNS_FORMATS = {"lr": "{:g}", "train loss": "{:.3f}", "train acc": "{:.1%}", "test acc": "{:.1%}",
                "examples/s": "{:,.0f}"}


def runs_styler(runs: list[Run]) -> Styler:
    """``runs_frame`` as shown: percentages, and "—" where a run has no such metric (it failed or is running)."""
    return runs_frame(runs).style.format(RUNS_FORMATS, na_rep="—")


HYPERPARAMETERS = (
    ("lr (log)", lambda c: math.log10(c.train.lr)),  # a log axis: rates span decades
    ("batch size", lambda c: c.train.batch_size),
    ("epochs", lambda c: c.train.epochs),
    ("resize", lambda c: c.arch.resize),
    ("blocks", lambda c: len(c.arch.blocks)),
    ("dropout", lambda c: c.arch.dropout),
    ("weight decay", lambda c: c.train.weight_decay),
    ("momentum", lambda c: c.train.momentum),
    ("train size", lambda c: c.train.train_size or 60_000),
)


def hyperparameter_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run that has a final test accuracy: its hyperparameters and that accuracy."""
    rows = []
    for r in runs:
        acc = r.final.get("test_acc")
        if not isinstance(acc, (int, float)):
            continue
        rows.append({"id": r.id, "name": r.name, **{name: get(r.config) for name, get in HYPERPARAMETERS},
                     "optimizer": r.config.train.optimizer, "test acc": float(acc)})
    return pd.DataFrame(rows, columns=["id", "name", *(n for n, _ in HYPERPARAMETERS), "optimizer", "test acc"])


def hyperparameter_figure(runs: list[Run]) -> go.Figure:
    """Parallel coordinates: each run a line through its hyperparameters, coloured by its test accuracy. Settings
    every run shares are left out (all are kept when none differs); few distinct values get their own ticks."""
    frame = hyperparameter_frame(runs)
    names = [name for name, _ in HYPERPARAMETERS] + ["optimizer"]
    varying = [name for name in names if frame[name].nunique() > 1] or names
    dims = []
    for name in varying:
        if name == "optimizer":
            options = sorted(set(frame["optimizer"]))
            dims.append({"label": name, "values": [options.index(o) for o in frame[name]],
                         "tickvals": list(range(len(options))), "ticktext": options})
            continue
        dim = {"label": name, "values": frame[name].tolist()}
        distinct = sorted(set(dim["values"]))
        if len(distinct) <= 6:
            dim["tickvals"] = distinct
            dim["ticktext"] = [f"{10 ** v:g}" if name == "lr (log)" else f"{v:g}" for v in distinct]
        dims.append(dim)
    dims.append({"label": "test acc", "values": frame["test acc"].tolist(), "tickformat": ".1%"})
    fig = go.Figure(go.Parcoords(
        line={"color": frame["test acc"].tolist(), "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": "test acc"}, "tickformat": ".0%"}},
        dimensions=dims))
    fig.update_layout(height=380, margin={"l": 60, "r": 40, "t": 50, "b": 20})
    return fig

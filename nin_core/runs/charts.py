"""The runs as tables and figures: every run with its settings and final metrics, and hyperparameters against
test accuracy. The frames keep English column names (their keys); the stylers and figures show them, and every word
in a cell, in the reader's language."""

from __future__ import annotations

import math
from html import escape

import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

from nin_core.i18n import N_, _
from nin_core.network.config import RunConfig
from nin_core.network.durations import format_duration
from nin_core.runs import noise
from nin_core.runs.groups import Group
from nin_core.runs.store import Run


def _channels(config: RunConfig) -> str:
    return "-".join(str(b.out_channels) for b in config.arch.blocks)


# The result first, then what made it: a wide table scrolls, and the settings are the part one scrolls to.
# The columns' names are the frames' keys, in English; shown with _() (see _shown).
COLUMNS = [N_("id"), N_("name"), N_("status"), N_("test acc"), N_("train acc"), N_("train loss"), N_("examples/s"),
           N_("duration"), N_("channels"), N_("resize"), N_("epochs"), N_("lr"), N_("batch"), N_("optimizer"),
           N_("train size"), N_("device")]
RUNS, SD = N_("runs"), N_("± sd")  # the groups' table's own columns
METRIC_COLUMNS = {"train loss": "train_loss", "train acc": "train_acc", "test acc": "test_acc",
                  "examples/s": "examples_per_sec"}


def _settings(config: RunConfig) -> dict:
    a, t = config.arch, config.train
    return {"channels": _channels(config), "resize": a.resize, "epochs": t.epochs, "lr": t.lr,
            "batch": t.batch_size, "optimizer": t.optimizer, "train size": t.train_size or 60_000}


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """Every run with its key settings, final metrics, duration and device."""
    rows = [{"id": r.id, "name": r.name, "status": r.status.label, **_settings(r.config),
             **{col: r.final.get(key) for col, key in METRIC_COLUMNS.items()},
             "duration": format_duration(r.duration_s), "device": r.device or "—"} for r in runs]
    return _numeric(pd.DataFrame(rows, columns=COLUMNS))


def groups_frame(groups: list[Group]) -> pd.DataFrame:
    """Every group as one row (a group of one is its run): the first run's id, the group's name, its status
    (``2 finished · 1 diverged``, in the reader's language), how many runs, the mean of each final metric over the
    runs that have it and the test accuracy's standard deviation between seeds, the runs' durations summed."""
    rows = []
    for g in groups:
        first = g.by_seed[0]
        acc = g.spread("test_acc")
        rows.append({"id": first.id, "name": g.name, "status": g.status_text(), RUNS: len(g.runs),
                     **_settings(first.config),
                     **{col: (s.mean if (s := g.spread(key)) else None) for col, key in METRIC_COLUMNS.items()},
                     SD: acc.sd if acc else None, "duration": format_duration(g.duration_s if g.duration_s
                                                                                  else None),
                     "device": first.device or "—"})
    columns = [*COLUMNS[:3], RUNS, "test acc", SD, *COLUMNS[4:]]
    return _numeric(pd.DataFrame(rows, columns=columns))


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    for col in [*METRIC_COLUMNS, SD]:
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


RUNS_FORMATS = {"lr": "{:g}", "train loss": "{:.3f}", "train acc": "{:.1%}", "test acc": "{:.1%}", SD: "{:.1%}",
                "examples/s": "{:,.0f}"}


def _shown(frame: pd.DataFrame) -> Styler:
    """A runs' or groups' frame as shown: its columns named in the reader's language, percentages, and "—" where a
    run has no such metric (it failed or is running)."""
    formats = {_(col): fmt for col, fmt in RUNS_FORMATS.items() if col in frame}
    return frame.rename(columns=_).style.format(formats, na_rep="—")


def runs_styler(runs: list[Run]) -> Styler:
    """``runs_frame`` as shown."""
    return _shown(runs_frame(runs))


def groups_styler(groups: list[Group]) -> Styler:
    """``groups_frame`` as shown, formatted as the runs' table."""
    return _shown(groups_frame(groups))


def group_value(group: Group) -> str:
    """``#12 tiny``; for several seeds ``#12–14 tiny``: the group as a choice holds it, in no language."""
    ids = sorted(r.id for r in group.runs)
    return f"#{ids[0]} {group.name}" if group.single else f"#{ids[0]}–{ids[-1]} {group.name}"


def group_label(group: Group) -> str:
    """``#12 tiny``; for several seeds ``#12–14 tiny (3 seeds)``, in the current language."""
    if group.single:
        return group_value(group)
    return _("{group} ({n} seeds)").format(group=group_value(group), n=len(group.runs))


def differences(groups: dict[str, Group]) -> list[str]:
    """Each group's final test accuracy against the first one's, judged against the noise between seeds; and
    what makes a group's figures partial. One line each, in the current language."""
    lines = [_("{label}: {problems}").format(label=label, problems=g.problems())
             for label, g in groups.items() if g.problems()]
    have = {label: g.values("test_acc") for label, g in groups.items() if g.values("test_acc")}
    if len(have) < 2:
        return lines
    (ref_label, ref), *others = have.items()
    return lines + [_("{label} against {reference}: {difference}").format(
        label=label, reference=ref_label, difference=noise.compare(ref, accs).text()) for label, accs in others]


HYPERPARAMETERS = (
    ("lr (log)", lambda c: math.log10(c.train.lr)),  # a log axis: rates span decades
    (N_("batch size"), lambda c: c.train.batch_size),
    ("epochs", lambda c: c.train.epochs),
    ("resize", lambda c: c.arch.resize),
    (N_("blocks"), lambda c: len(c.arch.blocks)),
    (N_("dropout"), lambda c: c.arch.dropout),
    (N_("weight decay"), lambda c: c.train.weight_decay),
    (N_("momentum"), lambda c: c.train.momentum),
    ("train size", lambda c: c.train.train_size or 60_000),
)  # each panel's title: its name (without " (log)") with _()


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
    """Test accuracy against each hyperparameter, one panel each, a point per run (its id and name on hover).
    Settings every run shares are left out (all are kept when none differs). Drawn as SVG: parallel coordinates
    need WebGL, which a browser without a GPU draws in software, for seconds."""
    from plotly.subplots import make_subplots

    frame = hyperparameter_frame(runs)
    names = [name for name, _ in HYPERPARAMETERS] + ["optimizer"]
    varying = [name for name in names if frame[name].nunique() > 1] or names
    cols = min(len(varying), 5)
    fig = make_subplots(rows=math.ceil(len(varying) / cols), cols=cols, shared_yaxes=True,
                        subplot_titles=[_(n.removesuffix(" (log)")) for n in varying], vertical_spacing=0.2)
    hover = [f"#{i} {escape(name, quote=False)}" for i, name in zip(frame["id"], frame["name"], strict=True)]
    for k, name in enumerate(varying):
        lr = name == "lr (log)"
        fig.add_trace(go.Scatter(x=10 ** frame[name] if lr else frame[name], y=frame["test acc"], mode="markers",
                                 text=hover, hovertemplate="%{text}: %{y:.1%}<extra></extra>", showlegend=False),
                      row=k // cols + 1, col=k % cols + 1)
        if lr:  # rates span decades
            fig.update_xaxes(type="log", row=k // cols + 1, col=k % cols + 1)
    fig.update_yaxes(tickformat=".0%", title_text=_("test acc"), col=1)
    fig.update_layout(height=260 * math.ceil(len(varying) / cols) + 40, margin={"l": 60, "r": 20, "t": 40, "b": 30})
    return fig

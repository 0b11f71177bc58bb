"""Streamlit pieces the pages share (not a page): the current configuration, the run store, run badges and the
live view of a run.

THE configuration lives in ``st.session_state`` so every page works on the same one. It starts from the link's
query parameters when there are any, else from the seed preset with a CUDA GPU and the cpu preset without;
the link is kept in step with it (only what differs from its preset), so copying the URL shares the settings.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from nin_core.charts import curves_figure
from nin_core.config import PRESETS, BlockConfig, ConfigError, ConfigIssue, RunConfig
from nin_core.devices import resolve_device
from nin_core.store import Run, RunStore
from nin_core.sweep import queue_position
from nin_core.train import closing_lines
from nin_core.urlconfig import CONFIG_KEYS, decode, default_preset, encode, has_config

_CONFIG, _BASE, _PRESET, _VERSION = "nin.config", "nin.config_base", "nin.preset", "nin.config_version"
URL_ISSUES = "nin.url_issues"


# --- the app's navigation -----------------------------------------------------------------------------

_APP_RAN = "nin.app_ran"


def app_navigation():
    """The app's pages, as app.py runs them (and its page settings)."""
    from nin_core.jobs import ensure_worker

    st.set_page_config(page_title="NiN dashboard", page_icon=":material/hub:", layout="wide")
    st.session_state[_APP_RAN] = True
    # Runs left queued when the machine stopped (or their worker died) start again as soon as anyone looks.
    ensure_worker(get_store())
    return st.navigation([
        st.Page("pages/train.py", title="Playground & training", icon=":material/tune:", default=True),
        st.Page("pages/shapes.py", title="Shapes", icon=":material/table_chart:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    ])


def inside_app() -> None:
    """Every page starts here. On a freshly started server, a link straight to a page reaches it before app.py
    ever ran, and Streamlit still treats pages/ as its old auto-discovered folder: the page would run alone, with
    the folder's files as navigation. Run the app's navigation instead (it shows the same page) and stop."""
    if not st.session_state.get(_APP_RAN):
        app_navigation().run()
        st.stop()


# --- the run store ------------------------------------------------------------------------------------

def get_store() -> RunStore:
    """The run store under $NIN_HOME (or ./runs). Cheap: opened afresh on each call, never cached."""
    return RunStore()


# --- the configuration --------------------------------------------------------------------------------

def _ensure_config() -> None:
    ss = st.session_state
    if _CONFIG in ss:
        return
    params = st.query_params.to_dict()
    if has_config(params):
        decoded = decode(params)
        ss[URL_ISSUES] = decoded.unreadable
        _put(decoded.config, decoded.preset)
    else:
        name = default_preset()
        _put(PRESETS[name], name)


def _put(config: RunConfig, preset: str) -> None:
    ss = st.session_state
    ss[_CONFIG], ss[_BASE], ss[_PRESET] = config, config, preset
    ss[_VERSION] = ss.get(_VERSION, 0) + 1


def get_config() -> RunConfig:
    """The current configuration (and the link kept in step with it)."""
    _ensure_config()
    sync_url()
    return st.session_state[_CONFIG]


def get_preset() -> str:
    """The preset the current configuration starts from."""
    _ensure_config()
    return st.session_state[_PRESET]


def set_config(config: RunConfig, preset: str | None = None) -> None:
    """Make ``config`` the current configuration everywhere; the training page's fields start again from it.
    ``preset`` names what it is based on (the closest preset if not given)."""
    from nin_core.urlconfig import closest_preset

    _put(config, preset if preset in PRESETS else closest_preset(config))
    sync_url()


def update_config(config: RunConfig) -> None:
    """Record the configuration the training page's fields now hold (the fields are left as they are)."""
    _ensure_config()
    st.session_state[_CONFIG] = config
    sync_url()


def config_version() -> int:
    _ensure_config()
    return st.session_state[_VERSION]


def base_config() -> RunConfig:
    """The configuration as it was at the last set_config: what the fields start from."""
    _ensure_config()
    return st.session_state[_BASE]


def sync_url() -> None:
    """Write the configuration into the query parameters (keeping any other page's parameters)."""
    ss = st.session_state
    if _CONFIG not in ss:
        return
    current = st.query_params.to_dict()
    wanted = {k: v for k, v in current.items() if k not in CONFIG_KEYS} | encode(ss[_CONFIG], ss[_PRESET])
    if wanted != current:
        st.query_params.from_dict(wanted)


def config_issues(config: RunConfig) -> list[ConfigIssue]:
    """Everything that keeps ``config`` from training here (nin_core's checks before a launch)."""
    from nin_core.jobs import launch_issues

    return launch_issues(config)


# --- a form over the configuration's settings ---------------------------------------------------------

def _field_label(field: str) -> str:
    """``arch.blocks[2].kernel_size`` → ``Block 3, kernel size``; ``train.lr`` → ``lr``."""
    name = field.split(".", 1)[-1]
    if name.startswith("blocks["):
        index, _, rest = name[len("blocks["):].partition("]")
        return f"Block {int(index) + 1}" + (f", {rest.lstrip('.').replace('_', ' ')}" if rest else "")
    return name.replace("_", " ")


class SettingsForm:
    """Widgets for the settings of a RunConfig. Each starts from the configuration at the last set_config (so a
    preset, an upload or another page resets them) and keeps an empty slot under it, where ``show_issues`` puts
    the problems validation finds with that field."""

    def __init__(self) -> None:
        self.base, self.version = base_config(), config_version()
        self.values: dict[str, Any] = {}
        self.slots: dict[str, Any] = {}

    def key(self, name: str) -> str:
        return f"cfg.{name}.v{self.version}"

    def _start(self, name: str) -> Any:
        from nin_core.urlconfig import get_setting

        return get_setting(self.base, name)

    def _slot(self, name: str) -> None:
        self.slots[name] = st.empty()

    def number(self, name: str, label: str, *, optional: bool = False, **kw: Any) -> Any:
        start = self._start(name)
        if isinstance(kw.get("min_value"), float) and isinstance(start, int):
            start = float(start)
        if isinstance(start, float) and "format" not in kw:
            kw["format"] = "%g"
        # A value from a link or a file may lie outside the field's range: show it, and let validation explain.
        if start is not None and kw.get("min_value") is not None and start < kw["min_value"]:
            kw["min_value"] = None
        if start is not None and kw.get("max_value") is not None and start > kw["max_value"]:
            kw["max_value"] = None
        if not _shown_in_browser(start):  # inf, or past 2**53: the field starts empty, validation says why
            start = None
        kept = self._start(name)
        self.values[name] = st.number_input(label, value=start, key=self.key(name), **kw)
        if not optional and self.values[name] is None:
            self.values[name] = kept
        self._slot(name)
        return self.values[name]

    def choice(self, name: str, label: str, options: list[str], **kw: Any) -> Any:
        start = self._start(name)
        options = options if start in options else [*options, start]
        self.values[name] = st.selectbox(label, options, index=options.index(start), key=self.key(name), **kw)
        self._slot(name)
        return self.values[name]

    def text(self, name: str, label: str, **kw: Any) -> str | None:
        value = st.text_input(label, value=self._start(name) or "", key=self.key(name), **kw).strip()
        self.values[name] = value or None
        self._slot(name)
        return self.values[name]

    def blocks(self, label: str) -> None:
        """The blocks as an editable table: a row per NiN block, rows can be added and removed."""
        frame = pd.DataFrame([b.__dict__ for b in self.base.arch.blocks])
        number = st.column_config.NumberColumn
        edited = st.data_editor(
            frame, key=self.key("blocks"), num_rows="dynamic", hide_index=True, width="stretch",
            column_config={
                "out_channels": number("out channels", min_value=1, max_value=4096, step=1, default=64,
                                       help="channels of the k×k conv and both 1×1 convs (the last block: classes)"),
                "kernel_size": number("kernel", min_value=1, max_value=31, step=1, default=3),
                "stride": number("stride", min_value=1, max_value=16, step=1, default=1),
                "padding": number("padding", min_value=0, max_value=30, step=1, default=1),
            })
        st.caption(f"{label}: a k×k conv then two 1×1 convs, each with ReLU; a max-pool after each block but the "
                   "last, dropout before the last, then a global average pool.")
        self.values["blocks"] = tuple(BlockConfig(*(_whole(row[c]) for c in frame.columns))
                                      for row in edited.to_dict("records"))
        self._slot("blocks")

    def config(self) -> RunConfig:
        return self.base.with_overrides(**self.values)

    def show_issues(self, issues: list[ConfigIssue]) -> list[ConfigIssue]:
        """Put each problem under its field; returns those that have no field here."""
        by_slot: dict[str, list[str]] = {}
        rest = []
        for issue in issues:
            name = issue.field.split(".", 1)[-1]
            name = "blocks" if name.startswith("blocks") else name
            if name in self.slots:
                prefix = f"{_field_label(issue.field)}: " if name == "blocks" else ""
                by_slot.setdefault(name, []).append(prefix + issue.message)
            else:
                rest.append(issue)
        for name, messages in by_slot.items():
            self.slots[name].markdown("\n\n".join(problem_markdown(m) for m in messages))
        return rest


def device_choice_label(name: str) -> str:
    """A device setting as the picker shows it: ``auto`` says what it picks here."""
    from nin_core.devices import device_label

    return f"auto → {device_label(resolve_device('auto'))}" if name == "auto" else name


def shape_summary(table: Any) -> None:
    """Output shape, parameters, multiply-adds and smallest valid input of a ShapeTable (None: cannot be built)."""
    ok = table is not None and table.ok
    a, b = st.columns(2)
    a.metric("Output", "×".join(map(str, table.output_shape)) if ok else "—")
    params = table.total_params if table is not None else None
    b.metric("Parameters", "—" if params is None else f"{params:,}" if params < 100_000 else f"{params / 1e6:.2f} M",
             help=f"{params:,} weights and biases" if params is not None else None)
    a.metric("Mult-adds / image", f"{table.total_mult_adds / 1e6:,.1f} M" if ok else "—",
             help=f"{table.total_mult_adds:,} multiply-adds for one image" if ok else None)
    b.metric("Smallest input", f"{table.min_input_size} px" if table is not None and table.min_input_size else "—")


def problem_markdown(message: str) -> str:
    """A problem in red with an error icon, its own brackets escaped (``(0, 100]`` would end the colour)."""
    return ":red[:material/error: " + message.replace("[", "\\[").replace("]", "\\]") + "]"


def _shown_in_browser(value: Any) -> bool:
    """Whether a number input can show ``value``: JavaScript numbers are finite, and whole ones exact to 2**53."""
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= 2**53
    return not isinstance(value, int) or abs(value) <= 2**53


def _whole(value: Any) -> Any:
    """A table cell as the configuration wants it: a whole number as int, an empty cell as None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


# --- runs ---------------------------------------------------------------------------------------------

_BADGES = {
    "queued": ("gray", ":material/schedule:"), "running": ("blue", ":material/play_arrow:"),
    "finished": ("green", ":material/check_circle:"), "stopped": ("orange", ":material/stop_circle:"),
    "diverged": ("red", ":material/trending_up:"), "stalled": ("red", ":material/pause_circle:"),
    "failed": ("red", ":material/error:"), "interrupted": ("orange", ":material/cancel:"),
}
PROBLEM_STATUSES = ("diverged", "stalled", "failed", "interrupted")


def status_markdown(status: str) -> str:
    """A run's status as a coloured Markdown badge (for tables and captions)."""
    color, icon = _BADGES.get(status, ("gray", ":material/help:"))
    return f":{color}-badge[{icon} {status}]"


def final_line(run: Run) -> str | None:
    """The seed's closing lines (``loss X, train acc Y, test acc Z`` / ``N examples/sec on DEVICE``) as Markdown."""
    return closing_lines(run.final, run.device).replace("\n", "  \n") if run.final else None


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def run_panel(run: Run, store: RunStore) -> None:
    """One run as it stands: status, device, progress, speed and ETA, curves; the outcome when it has ended."""
    p = run.progress
    head, stop = st.columns([5, 1], vertical_alignment="center")
    with head:
        st.markdown(f"**{run.name}** · run {run.id}" + (f" · sweep *{run.sweep}*" if run.sweep else "")
                    + f" · {status_markdown(run.status)} · {p.get('device') or run.device or 'device not chosen yet'}")
    if run.active and stop.button("Stop", key=f"stop-{run.id}", icon=":material/stop:", width="stretch",
                                  disabled=run.stop_requested):
        store.request_stop(run.id)
        st.toast(f"Asked run {run.id} to stop after its current batch.")
    if run.status == "queued":
        place = queue_position(store.list_runs(), run.id)
        st.info(f"Queued{f', number {place} in line' if place else ''}: it starts when the runs before it end.",
                icon=":material/schedule:")
    elif run.status == "running" or p:
        epochs, batches = p.get("epochs") or run.config.train.epochs, p.get("batches") or 0
        st.progress(min(1.0, p.get("batch", 0) / batches) if batches else 0.0,
                    text=f"Epoch {p.get('epoch', 1)}/{epochs} · batch {p.get('batch', 0)}/{batches or '…'} · "
                         f"{p.get('phase', 'starting')}")
        st.progress(min(1.0, p.get("fraction", 0.0)), text=f"Whole run: {p.get('fraction', 0.0):.0%}")
        cols = st.columns(5)
        cols[0].metric("images/s", _number(p.get("examples_per_sec"), ",.0f"))
        cols[1].metric("ETA", _clock(p.get("eta_s")) if run.active else "—")
        cols[2].metric("elapsed", _clock(p.get("elapsed_s")))
        cols[3].metric("train loss", _number(p.get("train_loss"), ".3f"))
        cols[4].metric("test acc", _number(p.get("test_acc"), ".3f"))
    if run.status == "finished":
        line = final_line(run)
        st.success(line or "Finished.", icon=":material/check_circle:")
        if run.message:
            st.warning(run.message + (f"  \n{run.hint}" if run.hint else ""))
    elif run.status in PROBLEM_STATUSES:
        st.error(f"Run {run.status}: {run.message or 'no message'}", icon=":material/error:")
        if run.hint:
            st.info(run.hint, icon=":material/lightbulb:")
    elif run.status == "stopped":
        st.warning(f"Stopped: {run.message or ''}" + (f"  \n{final_line(run)}" if final_line(run) else ""))
    points = store.metrics(run.id)
    if points or run.status == "running":
        st.plotly_chart(curves_figure({run.name: points}, run.config.train.epochs), key=f"curves-{run.id}",
                        width="stretch")


def live_run(run_id: int) -> None:
    """``run_panel`` kept up to date every second while the run is queued or running, in place; when it ends the
    whole page reruns once (so what depends on it updates, and the polling stops)."""
    store = get_store()
    was_active = store.get_run(run_id).active

    def panel() -> None:
        fresh = get_store()
        run = fresh.get_run(run_id)
        if was_active and not run.active:
            st.rerun(scope="app")
        run_panel(run, fresh)

    st.fragment(panel, run_every=1.0 if was_active else None)()



# --- presets and configuration files ------------------------------------------------------------------

def preset_picker() -> None:
    """The three presets with what each is for; picking one (or "Reset") makes it the current configuration."""
    from nin_core.config import PRESET_DESCRIPTIONS
    from nin_core.urlconfig import differences, format_value

    names, preset, key = list(PRESETS), get_preset(), f"preset.v{config_version()}"
    pick = lambda: set_config(PRESETS[st.session_state[key]], st.session_state[key])  # noqa: E731
    st.radio("Preset", names, index=names.index(preset), key=key, horizontal=True, on_change=pick,
             captions=[PRESET_DESCRIPTIONS[n] for n in names])
    changed = differences(st.session_state[_CONFIG], PRESETS[preset])
    if changed:
        text, reset = st.columns([6, 1], vertical_alignment="center")
        text.caption(f"Changed from **{preset}**: " + ", ".join(
            f"{k} {format_value(v)}" for k, v in changed.items()))
        reset.button("Reset", key=f"reset.v{config_version()}", icon=":material/restart_alt:",
                     on_click=lambda: set_config(PRESETS[preset], preset), help=f"back to the {preset} preset")


def config_file_buttons(config: RunConfig) -> None:
    """Download the configuration as JSON; upload one (a file that cannot be read changes nothing)."""
    st.download_button("Download configuration (JSON)", config.to_json(), file_name="nin-config.json",
                       mime="application/json", icon=":material/download:", on_click="ignore", width="stretch")
    st.file_uploader("Load a configuration (JSON)", type=["json"], key="config_upload", on_change=_load_upload)
    problem = st.session_state.get("nin.upload_problem")
    if problem:
        st.error(problem, icon=":material/error:")


def _load_upload() -> None:
    ss = st.session_state
    ss["nin.upload_problem"] = None
    upload = ss.get("config_upload")
    if upload is None:
        return
    try:
        config = RunConfig.from_json(upload.getvalue().decode("utf-8"))
    except UnicodeDecodeError:
        ss["nin.upload_problem"] = f"{upload.name} is not a text file; nothing was changed."
        return
    except ConfigError as e:
        ss["nin.upload_problem"] = (f"{upload.name} was not loaded; nothing was changed. "
                                    + " ".join(f"`{i.field}` {i.message}." for i in e.issues))
        return
    set_config(config)
    st.toast(f"Loaded {upload.name}.", icon=":material/upload:")

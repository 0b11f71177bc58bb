"""The settings form (not a page): one widget per declared setting, grouped as the declarations say, each with a
slot under it for what validation finds. Nothing here knows a setting by name but the blocks' table and the
device picker; a setting added to the configuration appears here by itself.

The number fields take any number: their range is validation's to explain (under the field, with Train
disabled), so what the field shows is always what the configuration, the link and a launched run hold.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from nin_core.i18n import N_, _, format_count, format_in_language
from nin_core.network.config import SETTINGS, BlockConfig, ConfigIssue, RunConfig
from nin_core.network.devices import available_devices, gpu_count, resolve_device
from nin_core.network.settings import GROUPS, Setting, help_text
from ui.state import FIELD_PREFIX, base_config, config_version, translated_choice

COLUMNS = 3
# A block's fields as the messages under its table name them.
BLOCK_FIELDS = {"out_channels": N_("out channels"), "kernel_size": N_("kernel size"), "stride": N_("stride"),
                "padding": N_("padding")}
GROUP_TITLES = {"network": N_("Architecture"), "training": N_("Training"), "data and device": N_("Data and device")}


def _field_label(field: str) -> str:
    """``arch.blocks[2].kernel_size`` → ``Block 3, kernel size``; ``train.lr`` → ``Learning rate``."""
    name = field.split(".", 1)[-1]
    if name.startswith("blocks["):
        index, _bracket, rest = name[len("blocks["):].partition("]")
        block = _("Block {number}").format(number=int(index) + 1)
        return block + (f", {_(BLOCK_FIELDS.get(rest.lstrip('.'), rest.lstrip('.')))}" if rest else "")
    return _(SETTINGS[name].spec.label) if name in SETTINGS else name.replace("_", " ")


def problem_markdown(message: str) -> str:
    """A problem in red with an error icon, its own brackets escaped (``(0, 100]`` would end the colour)."""
    return ":red[:material/error: " + message.replace("[", "\\[").replace("]", "\\]") + "]"


def device_choice_label(name: str) -> str:
    """A device setting as the picker shows it: ``auto`` says what it picks here."""
    from nin_core.network.devices import device_label
    from nin_core.network.hints import shown_message

    return f"auto → {shown_message(device_label(resolve_device('auto')))}" if name == "auto" else name


class SettingsForm:
    """Widgets for every setting of a RunConfig. Each starts from the configuration at the last set_config (so a
    preset, an upload or "open in the playground" resets them; state.py keeps what was typed across other pages)
    and keeps an empty slot under it, where ``show_issues`` puts the problems validation finds with that field."""

    def __init__(self) -> None:
        self.base, self.version = base_config(), config_version()
        self.values: dict[str, Any] = {}
        self.slots: dict[str, Any] = {}

    def key(self, name: str) -> str:
        return f"{FIELD_PREFIX}{name}.v{self.version}"

    # --- the whole form -------------------------------------------------------------------------------
    def render(self) -> RunConfig:
        """Every group in its own box, the chapter's settings first, then those beyond it; the configuration
        the fields now hold."""
        for group in GROUPS:
            members = [s for s in SETTINGS.values() if s.spec.group == group]
            with st.container(border=True):
                st.markdown(f"**{_(GROUP_TITLES[group])}**")
                if any(s.name == "blocks" for s in members):
                    self.blocks(SETTINGS["blocks"])
                self._grid([s for s in members if s.spec.chapter and s.name != "blocks"])
                beyond = [s for s in members if not s.spec.chapter]
                if beyond:
                    beyond_chapter, default = _("beyond the chapter"), _("the chapter's value is the default")
                    st.markdown(f":violet-badge[:material/science: {beyond_chapter}] :gray[{default}]")
                    self._grid(beyond)
        return self.config()

    def _grid(self, settings: list[Setting]) -> None:
        columns = st.columns(COLUMNS)
        for i, s in enumerate(settings):
            with columns[i % COLUMNS]:
                self.widget(s)

    def widget(self, s: Setting) -> None:
        start, key, help_ = self.base.get(s.name), self.key(s.name), help_text(s) or None
        label, empty = _(s.spec.label), _(s.spec.none_text) or None
        value: Any  # of the setting's kind
        if s.name == "device":
            options = available_devices()
            options += [start] if start not in options else []
            value = st.selectbox(label, options, index=options.index(start),
                                 format_func=format_in_language(device_choice_label), key=translated_choice(key),
                                 help=help_)
        elif s.name == "processes":  # GPUs: only a machine with more than one can share a run out
            value = st.number_input(label, value=start, step=1, disabled=gpu_count() < 2, key=key, help=help_)
        elif s.kind is bool:
            value = st.toggle(label, value=bool(start), key=key, help=help_)
        elif s.spec.choices:
            options = list(s.spec.choices) + ([start] if start not in s.spec.choices else [])
            value = st.selectbox(label, options, index=options.index(start), key=key, help=help_)
        elif s.kind is str:
            value = st.text_input(label, value=start or "", placeholder=empty, key=key,
                                  help=help_).strip() or (None if s.optional else "")
        else:
            value = self._number(s, start, key, help_)
        self.values[s.name] = value
        self.slots[s.name] = st.empty()

    def _number(self, s: Setting, start: Any, key: str, help_: str | None) -> Any:
        real = s.kind is float
        if real:
            start = float(start) if isinstance(start, (int, float)) and not isinstance(start, bool) else start
        if not _shown_in_browser(start):  # inf, or past 2**53: the field starts empty, validation says why
            start = None
        step = float(s.spec.step or 0.01) if real else int(s.spec.step or 1)
        value = st.number_input(_(s.spec.label), value=start, step=step, format="%g" if real else None,
                                placeholder=_(s.spec.none_text) or None, key=key, help=help_)
        if value is None and not s.optional:
            return self.base.get(s.name)  # emptied by hand: the value it had
        return value

    def blocks(self, s: Setting) -> None:
        """The blocks as an editable table: a row per NiN block, rows can be added and removed."""
        frame = pd.DataFrame([b.__dict__ for b in self.base.arch.blocks])
        number = st.column_config.NumberColumn
        # No bounds in the cells: a value out of range is validation's to explain under the table, not to revert.
        edited = st.data_editor(
            frame, key=self.key("blocks"), num_rows="dynamic", hide_index=True, width="stretch",
            column_config={
                "out_channels": number(_("out channels"), step=1, default=64, help=_(
                    "channels of the k×k conv and the 1×1 convs (the last block: classes)")),
                "kernel_size": number(_("kernel"), step=1, default=3, help=_("1 to 31")),
                "stride": number(_("stride"), step=1, default=1, help=_("1 to 16")),
                "padding": number(_("padding"), step=1, default=1, help=_("0 to kernel − 1")),
            })
        st.caption(_("{blocks}: a k×k conv then 1×1 convs, each with ReLU; a max-pool after each block but the last, "
                     "dropout before the last, then the head.").format(blocks=_(s.spec.label)))
        self.values["blocks"] = tuple(BlockConfig(*(_whole(row[c]) for c in frame.columns))
                                      for row in edited.to_dict("records"))
        self.slots["blocks"] = st.empty()

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


def shape_summary(table: Any) -> None:
    """Output shape, parameters, multiply-adds and smallest valid input of a ShapeTable (None: cannot be built).
    A table that fails at a layer has only part of the network's parameters: said so, not shown as the whole."""
    ok = table is not None and table.ok
    st.metric(_("Output"), "×".join(map(str, table.output_shape)) if ok else "—")
    params = table.total_params if table is not None else None
    label = _("Parameters") if ok or table is None else _("Parameters (up to the failing layer)")
    st.metric(label, "—" if params is None else format_count(params), help=_("{count} weights and biases").format(
        count=format_count(params)) if params is not None else None)
    st.metric(_("Multiply-adds per image"), f"{table.total_mult_adds / 1e6:,.1f} M" if ok else "—",
              help=_("{count} multiply-adds for one image").format(count=format_count(table.total_mult_adds)) if ok
              else None)
    st.metric(_("Smallest input"), f"{table.min_input_size} px" if table is not None and table.min_input_size else "—")


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

"""The Exercises page's sections (not a page): one trained experiment with its button, table, curves and
conclusion, kept up to date while its runs train; and the resource exercise, which measures instead of training."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nin_core.i18n import _, format_count, format_in_language, ngettext
from nin_core.lab import exercises as exs
from nin_core.lab.estimate import estimate_run, throughput
from nin_core.network.charts import FAIL_STYLE, curves_figure, png_bytes, shape_styler
from nin_core.network.durations import format_duration
from nin_core.network.hints import shown_message
from nin_core.network.shapes import shape_table
from nin_core.runs.jobs import ensure_worker
from nin_core.runs.live import POLL_S
from nin_core.runs.store import RunStore
from ui.state import get_store, translated_choice

# The columns shown, by their names in the frame (English; ``exs.column_label`` names them in the reader's language).
WIDTHS = {"variant": 200, "status": 125, "runs": 45, "parameters": 80, "multiply-adds": 95,
          "training memory (MB)": 85, "time (s)": 60, "examples/s": 75, "train loss": 70, "train acc": 65,
          "test acc": 110, "last epoch": 70}
BOOK_STYLE = "color: #666; font-style: italic"


def _styled(frame: pd.DataFrame):
    """The columns shown, as the table shows them in the reader's language; variants that did not learn in red, the
    book's rows in grey (read from the frame's own values)."""
    def style(row: pd.Series) -> str:
        status = row["status"]
        bad = status in exs.BAD_ENDS or bool(row.get("went wrong"))
        return BOOK_STYLE if status == exs.Verdict.REFERENCE else FAIL_STYLE if bad else ""

    styles = [style(row) for _i, row in frame.iterrows()]
    shown = exs.display_frame(frame)[[exs.column_label(c) for c in WIDTHS]]
    return shown.style.apply(lambda row: [styles[shown.index.get_loc(row.name)]] * len(row), axis=1)


def _pick_size(ex: exs.Experiment, store: RunStore) -> exs.Experiment:
    """The experiment at its own size, at its quick look, or at another size it has runs at (from the command
    line): at first the one with the most runs done."""
    runs = store.list_runs()
    options = exs.sizes(ex, runs)
    i = st.selectbox(_("Size"), range(len(options)), exs.fullest_size(ex, options, runs),
                     key=translated_choice(f"exercise-size-{ex.number}"),
                     format_func=format_in_language(lambda i: (
                         _("{size} (as prepared: the size that answers the question)") if i == 0
                         else _("{size} (a quick look: its conclusion may differ)")).format(
                         size=exs.size_text(options[i]))))
    return ex.sized(**options[i])


def experiment(ex: exs.Experiment) -> None:
    store = get_store()
    ex = _pick_size(ex, store)
    if exs.is_quick_look(ex):
        st.warning(_("A quick look: fewer images, epochs or seeds than the question needs. Its conclusion may differ "
                     "from the one at the size as prepared."), icon=":material/speed:")
    runs = store.list_runs()
    found, todo = exs.variant_runs(ex, runs), exs.missing(ex, runs)
    done, total = exs.done(found), sum(len(v.seeds) for v in found.values())
    active = sum(len(v.active) for v in found.values())
    text, button = st.columns([3, 1], vertical_alignment="center")
    text.markdown(_("**{variants} variants × {seeds} = {total} runs**, each on {size} at {resize} px: {done} done, "
                    "{active} queued or running, {todo} to run.").format(
        variants=len(found), seeds=ngettext("{n} seed", "{n} seeds", ex.size["repeats"]).format(n=ex.size["repeats"]),
        total=total, size=exs.size_text(ex.size), resize=ex.base.arch.resize, done=done, active=active,
        todo=len(todo)))
    if todo:
        with st.spinner(_("Timing a few training steps on this device…")):
            rate = throughput(ex.base.train.device, ex.base.train.precision, home=store.home)
        seconds = sum(estimate_run(config, rate, mult_adds=exs.cost(config.arch)[1], time_steps=False).seconds
                      for _name, config in todo)
        text.caption(_("{duration} on {device}, one run after another.").format(
            duration=format_duration(seconds, about=True), device=shown_message(rate.device) or rate.device))
    label = (ngettext("Run the {n} missing run", "Run the {n} missing runs", len(todo)).format(n=len(todo)) if todo
             else _("All runs done"))
    if button.button(label, key=f"exercise-run-{ex.number}", type="primary", icon=":material/play_arrow:",
                     disabled=not todo, width="stretch"):
        ids = exs.queue_exercise(store, ex)
        ensure_worker(store)
        st.toast(_("Queued runs {ids}: they train in the background, one after another.").format(
            ids=_(", ").join(map(str, ids))))
        st.rerun()
    st.fragment(lambda: _results(ex, active > 0), run_every=POLL_S if active else None)()


def _results(ex: exs.Experiment, was_active: bool) -> None:
    """The table, the conclusion, the curves (and the class maps, where they matter) as the runs stand; when the
    last one ends, the whole page runs once more (its button and counts change, and the polling stops)."""
    store = get_store()
    runs = store.list_runs()
    found = exs.variant_runs(ex, runs)
    if was_active and not any(v.active for v in found.values()):
        st.rerun(scope="app")
    frame = exs.result_frame(ex, store)
    # The columns the conclusion speaks of, narrow enough to fit the page (the CSV has the settings and run ids).
    st.dataframe(_styled(frame), hide_index=True, column_config={
        exs.column_label(col): st.column_config.Column(width=width) for col, width in WIDTHS.items()})
    st.download_button(_("Download the table (CSV)"), frame.to_csv(index=False), f"exercise-{ex.number}.csv",
                       "text/csv", on_click="ignore", icon=":material/download:", key=f"exercise-csv-{ex.number}")
    said = exs.conclusion(ex, frame)
    if said:
        st.success(said, icon=":material/lightbulb:")
    else:
        st.info(_("The conclusion is written from the runs' numbers as soon as two variants have every seed done."),
                icon=":material/hourglass_top:")
    points, bands = exs.curves(ex, store, runs)
    if any(points.values()):
        points, bands = {_(k): v for k, v in points.items()}, {_(k): v for k, v in bands.items()}  # the legend
        st.plotly_chart(curves_figure(points, ex.base.train.epochs, bands), key=f"exercise-curves-{ex.number}")
        if bands:
            st.caption(_("Each variant's mean over its seeds, shaded from its lowest to its highest seed."))
    if ex.class_maps:
        key = tuple((name, run.id, run.checkpoint) for name, v in found.items() for run in v.done[:1])
        with st.spinner(_("Drawing the class maps…")):
            pictures = _class_maps(key, found)
        for name, png in pictures:
            st.image(png, caption=_("{variant}: the ten class maps of one test image, each with its mean (the "
                                    "logit)").format(variant=_(name)))


@st.cache_data(max_entries=8, show_spinner=False)
def _class_maps(key: tuple, _found: dict) -> list[tuple[str, bytes]]:  # key: the runs and checkpoints drawn
    return [(name, png_bytes(picture)) for name, picture in exs.class_map_pictures(_found)]


def resources(ex: exs.Measurement) -> None:
    store = get_store()
    batch = st.number_input(_("Batch size"), 1, 1024, value=None, key="exercise-batch",
                            placeholder=_("each configuration's own"))
    measured = exs.measurements(store.home, batch)
    if st.button(_("Measure on this machine"), key="exercise-measure", icon=":material/memory:",
                 disabled=len(measured) == len(exs.RESOURCE_CONFIGS),
                 help=_("one training step and one prediction of each configuration, each in a fresh process")):
        with st.spinner(_("Measuring a training step and a prediction of each configuration…")):
            exs.measurements(store.home, batch, measure=True)
        st.rerun()  # drawn again from the record, the button now off
    frame = exs.resource_frame(batch, measured)
    st.dataframe(exs.display_frame(frame), hide_index=True)
    st.download_button(_("Download the table (CSV)"), frame.to_csv(index=False), f"exercise-{ex.number}.csv",
                       "text/csv", on_click="ignore", icon=":material/download:", key="exercise-csv-3")
    st.success(exs.resource_conclusion(frame), icon=":material/lightbulb:")
    speed, multiply_adds = ex.book[0].examples_per_sec, frame.iloc[0]["multiply-adds"]
    st.caption(_("For reference, the book's run of the seed trained at {speed} examples/s on cuda:0: with 3 × "
                 "{mult_adds} multiply-adds per image (forward and backward), {rate} T multiply-adds per "
                 "second.").format(speed=f"{speed:,}", mult_adds=format_count(multiply_adds),
                                   rate=f"{3 * multiply_adds * speed / 1e12:.1f}"))
    with st.expander(_("The shape inspector's tables"), icon=":material/table_chart:"):
        for label, config in exs.RESOURCE_CONFIGS.items():
            name = _(label)
            st.markdown(f"**{name[:1].upper() + name[1:]}**")
            st.dataframe(shape_styler(shape_table(config.arch)), hide_index=True)

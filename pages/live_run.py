"""A run as it stands, kept up to date while it trains (not a page): shared by the training and Runs pages.

Watching must cost the run nothing: the panel reads the store every ``POLL_S`` seconds and sends the curves again
only when a new point arrived, so the browser redraws a chart once per report point, not once per poll.
"""

from __future__ import annotations

import time

import streamlit as st

from nin_core import jobs
from nin_core.charts import curves_figure
from nin_core.durations import format_duration
from nin_core.store import Run, RunStore
from nin_core.sweep import queue_position
from nin_core.train import closing_lines
from pages.state import get_store

POLL_S = 2.0  # the curves still move at least this often
# Every frame the browser draws is drawn on the cores the run trains on: in the panel, the bars jump to each new
# value instead of gliding there, and elements stay as they are while a poll reruns (40 ms) instead of starting
# Streamlit's delayed fade to "stale", which the next poll calls off again.
PANEL_KEY = "live-run"  # Streamlit gives the panel's container the class st-key-live-run
STILL_PANEL = (f"<style>.st-key-{PANEL_KEY} [data-testid='stProgress'] * {{transition: none !important}}"
               f".st-key-{PANEL_KEY} [data-stale='true'] {{opacity: 1 !important; transition: none !important}}"
               "</style>")
SWITCH_GUARD_S = 1.5  # a Stop button that just appeared under the pointer ignores clicks this long
_BADGES = {
    "queued": ("gray", ":material/schedule:"), "running": ("blue", ":material/play_arrow:"),
    "finished": ("green", ":material/check_circle:"), "stopped": ("orange", ":material/stop_circle:"),
    "diverged": ("red", ":material/trending_up:"), "stalled": ("red", ":material/pause_circle:"),
    "failed": ("red", ":material/error:"), "interrupted": ("orange", ":material/cancel:"),
}
PROBLEM_STATUSES = ("diverged", "stalled", "failed", "interrupted")
CONTINUABLE = ("stopped", "interrupted", "finished")
# What this session did, so that what others did (another tab, the command line) can be told apart and said.
_LAUNCHED, _STOPPED, _LAST = "nin.launched_here", "nin.stopped_here", "nin.panel_last"


def launched_here(*run_ids: int) -> None:
    """Record runs this session queued (or continued): the panel will not say they came from elsewhere."""
    st.session_state.setdefault(_LAUNCHED, set()).update(run_ids)


def panel_note(run: Run) -> str | None:
    """Why the panel shows another run, or its run stopped, when nothing in this tab asked for it: someone
    started or stopped a run from another tab or the command line. Said once (at the page run that shows it)."""
    ss = st.session_state
    last, ss[_LAST] = ss.get(_LAST), (run.id, run.active)
    if last is None:  # the first look of this visit: nothing changed under the person's eyes
        return None
    if last[0] != run.id and run.id not in ss.get(_LAUNCHED, set()):
        return f"Now showing run {run.id} *{run.name}*, started from another tab or the command line."
    if last == (run.id, True) and run.status == "stopped" and run.id not in ss.get(_STOPPED, set()):
        return f"Run {run.id} was stopped from another tab or the command line."
    return None


def status_markdown(status: str) -> str:
    """A run's status as a coloured Markdown badge (for tables and captions)."""
    color, icon = _BADGES.get(status, ("gray", ":material/help:"))
    return f":{color}-badge[{icon} {status}]"


def final_line(run: Run) -> str | None:
    """The seed's closing lines (``loss X, train acc Y, test acc Z`` / ``N examples/sec on DEVICE``) as Markdown."""
    return closing_lines(run.final, run.device).replace("\n", "  \n") if run.final else None


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _stop_button(run: Run, store: RunStore, place) -> None:
    """Stop, naming its run. When the panel has just switched to another run, its button stays disabled a moment:
    a second click meant for the run that was there must not stop the one that took its place."""
    shown = st.session_state.get("nin.panel_run")
    if shown is None or shown[0] != run.id:  # the first panel of the visit is not a switch
        shown = (run.id, -SWITCH_GUARD_S if shown is None else time.monotonic())
        st.session_state["nin.panel_run"] = shown
    fresh = time.monotonic() - shown[1] < SWITCH_GUARD_S
    what = "Cancel" if run.status == "queued" else "Stop"
    if place.button(f"{what} run {run.id}", key=f"stop-{run.id}", icon=":material/stop:", width="stretch",
                    disabled=run.stop_requested or fresh):
        store.request_stop(run.id)
        st.session_state.setdefault(_STOPPED, set()).add(run.id)
        st.toast(f"Cancelled queued run {run.id}." if run.status == "queued"
                 else f"Asked run {run.id} to stop after its current batch.")


def continue_form(run: Run, store: RunStore) -> None:
    """Continue an ended run to a number of epochs in all; a reason instead when it cannot."""
    if run.status not in CONTINUABLE:
        return
    with st.form(f"continue-{run.id}", border=False):
        epochs_col, go = st.columns([2, 1], vertical_alignment="bottom")
        epochs = epochs_col.number_input("Epochs in all", value=run.config.train.epochs + (run.status == "finished")
                                         * run.config.train.epochs, step=1, key=f"continue-epochs-{run.id}")
        if go.form_submit_button("Continue training", icon=":material/resume:", width="stretch"):
            try:
                reached = jobs.continue_run(store, run.id, int(epochs))
            except ValueError as e:
                st.error(str(e))
            else:
                launched_here(run.id)
                jobs.ensure_worker(store)
                st.toast(f"Run {run.id} continues from epoch {reached:g} to {int(epochs)}.")
                st.rerun(scope="app")


def run_panel(run: Run, store: RunStore) -> None:
    """One run as it stands: status, device, progress, speed and ETA, curves; the outcome when it has ended."""
    p = run.progress
    head, stop = st.columns([5, 1], vertical_alignment="center")
    resumed = f" · continued from epoch {run.resumes[-1]['from_epoch']:g}" if run.resumes else ""
    head.markdown(f"**{run.name}** · run {run.id}" + (f" · sweep *{run.sweep}*" if run.sweep else "")
                  + f" · {status_markdown(run.status)} · {p.get('device') or run.device or 'device not chosen yet'}"
                  + resumed)
    if run.active:
        _stop_button(run, store, stop)
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
        cols = st.columns(6)
        cols[0].metric("images/s", _number(p.get("examples_per_sec"), ",.0f"))
        cols[1].metric("ETA", format_duration(p.get("eta_s")) if run.active else "—")
        cols[2].metric("elapsed", format_duration(p.get("elapsed_s")))
        cols[3].metric("train loss", _number(p.get("train_loss"), ".3f"))
        cols[4].metric("val acc" if run.config.train.validation_size else "test acc",
                       _number(p.get("test_acc"), ".3f"))
        cols[5].metric("lr", _number(p.get("lr"), ".2g"))
    if run.status == "finished":
        st.success(final_line(run) or "Finished.", icon=":material/check_circle:")
        if run.message:
            st.warning(run.message + (f"  \n{run.hint}" if run.hint else ""))
    elif run.status in PROBLEM_STATUSES:
        st.error(f"Run {run.status}: {run.message or 'no message'}", icon=":material/error:")
        if run.hint:
            st.info(run.hint, icon=":material/lightbulb:")
    elif run.status == "stopped":
        st.warning(f"Stopped: {run.message or ''}" + (f"  \n{final_line(run)}" if final_line(run) else ""))
    _curves(run, store)
    if not run.active and not jobs.continue_issues(store, run, run.config.train.epochs + 1)[0]:
        continue_form(run, store)


def _curves(run: Run, store: RunStore) -> None:
    """The run's curves, re-sent to the browser only when they changed (a poll with no new point redraws
    nothing): the figure is kept in the session with the number of points it was drawn from."""
    points = store.metrics(run.id)
    if not points and run.status != "running":
        return
    key = f"nin.curves.{run.id}"
    drawn = st.session_state.get(key)
    if drawn is None or drawn[0] != (len(points), run.config.train.epochs):
        drawn = ((len(points), run.config.train.epochs), curves_figure({run.name: points}, run.config.train.epochs))
        st.session_state[key] = drawn
    st.plotly_chart(drawn[1], key=f"curves-{run.id}", width="stretch")


def live_run(run_id: int) -> None:
    """``run_panel`` kept up to date while the run is queued or running, in place; when it ends the whole page
    reruns once (so what depends on it updates, and the polling stops)."""
    store = get_store()
    was_active = store.get_run(run_id).active
    if was_active:
        st.html(STILL_PANEL)

    def panel() -> None:
        fresh = get_store()
        run = fresh.get_run(run_id)
        if was_active and not run.active:
            st.rerun(scope="app")
        with st.container(key=PANEL_KEY):
            run_panel(run, fresh)

    st.fragment(panel, run_every=POLL_S if was_active else None)()

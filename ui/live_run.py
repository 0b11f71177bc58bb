"""A run as it stands, kept up to date while it trains (not a page): shared by the training and Runs pages.

Watching must cost the run nothing: the panel's bars, figures and curves are a component that, while the run is
active, asks the app's route for them every ``POLL_S`` seconds and redraws only what changed (nin_core/runs/live.py);
the page itself reruns only when the run's status, stop request or place in the queue changes.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from nin_core.i18n import _
from nin_core.network.hints import shown_message
from nin_core.network.status import CONTINUABLE, PROBLEMS, RunStatus
from nin_core.network.train import closing_lines
from nin_core.runs import jobs
from nin_core.runs.live import panel_state
from nin_core.runs.store import Run, RunStore
from ui.state import get_store
from ui.text import as_text

_HERE = Path(__file__).parent
_LIVE_PANEL = st.components.v2.component(
    "nin_live_panel", isolate_styles=False,  # plotly.js styles its chart through the page's stylesheets
    html='<div class="nin-live"><div class="nin-bars"></div><div class="nin-metrics"></div>'
         '<div class="nin-curves" data-testid="live-curves"></div><div class="nin-note"></div></div>',
    css=(_HERE / "live_panel.css").read_text(), js=(_HERE / "live_panel.js").read_text())
SWITCH_GUARD_S = 1.5  # a Stop button that just appeared under the pointer ignores clicks this long
_BADGES = {
    RunStatus.QUEUED: ("gray", ":material/schedule:"), RunStatus.RUNNING: ("blue", ":material/play_arrow:"),
    RunStatus.FINISHED: ("green", ":material/check_circle:"), RunStatus.STOPPED: ("orange", ":material/stop_circle:"),
    RunStatus.DIVERGED: ("red", ":material/trending_up:"), RunStatus.STALLED: ("red", ":material/pause_circle:"),
    RunStatus.FAILED: ("red", ":material/error:"), RunStatus.INTERRUPTED: ("orange", ":material/cancel:"),
    RunStatus.PRUNED: ("violet", ":material/content_cut:"),
}
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
        return _("Now showing run {id} *{name}*, started from another tab or the command line.").format(
            id=run.id, name=as_text(run.name))
    if last == (run.id, True) and run.status == RunStatus.STOPPED and run.id not in ss.get(_STOPPED, set()):
        return _("Run {id} was stopped from another tab or the command line.").format(id=run.id)
    return None


def status_markdown(status: RunStatus) -> str:
    """A run's status as a coloured Markdown badge (for tables and captions)."""
    color, icon = _BADGES[status]
    return f":{color}-badge[{icon} {status.label}]"


def final_line(run: Run) -> str | None:
    """The seed's closing lines (``loss X, train acc Y, test acc Z`` / ``N examples/sec on DEVICE``) as Markdown."""
    return closing_lines(run.final, run.device).replace("\n", "  \n") if run.final else None


def _stop_button(run: Run, store: RunStore, place) -> float:
    """Stop, naming its run. When the panel has just switched to another run, its button stays disabled a moment:
    a second click meant for the run that was there must not stop the one that took its place. Returns the seconds
    it stays disabled for that (0 if it is not)."""
    shown = st.session_state.get("nin.panel_run")
    if shown is None or shown[0] != run.id:  # the first panel of the visit is not a switch
        shown = (run.id, -SWITCH_GUARD_S if shown is None else time.monotonic())
        st.session_state["nin.panel_run"] = shown
    guard = max(0.0, SWITCH_GUARD_S - (time.monotonic() - shown[1]))
    queued = run.status == RunStatus.QUEUED
    if place.button((_("Cancel run {id}") if queued else _("Stop run {id}")).format(id=run.id), key=f"stop-{run.id}",
                    icon=":material/stop:", width="stretch", disabled=run.stop_requested or guard > 0):
        store.request_stop(run.id)
        st.session_state.setdefault(_STOPPED, set()).add(run.id)
        st.toast((_("Cancelled queued run {id}.") if queued
                  else _("Asked run {id} to stop after its current batch.")).format(id=run.id))
    return guard


def continue_form(run: Run, store: RunStore) -> None:
    """Continue an ended run to a number of epochs in all; a reason instead when it cannot."""
    if run.status not in CONTINUABLE:
        return
    with st.form(f"continue-{run.id}", border=False):
        epochs_col, go = st.columns([2, 1], vertical_alignment="bottom")
        epochs = epochs_col.number_input(
            _("Epochs in all"), value=run.config.train.epochs * (2 if run.status == RunStatus.FINISHED else 1), step=1,
            key=f"continue-epochs-{run.id}")
        if go.form_submit_button(_("Continue training"), icon=":material/resume:", width="stretch"):
            try:
                reached = jobs.continue_run(store, run.id, int(epochs))
            except ValueError as e:
                st.error(str(e))
            else:
                launched_here(run.id)
                jobs.ensure_worker(store)
                st.toast(_("Run {id} continues from epoch {reached} to {epochs}.").format(
                    id=run.id, reached=format(reached, "g"), epochs=int(epochs)))
                st.rerun(scope="app")


def _shown(text: str | None) -> str:
    """A run's stored message, hint or device label in the reader's language ("" for none)."""
    return shown_message(text) or ""


def _page_changes() -> None:
    """The live panel saw the run change in a way the page shows: the rerun this triggers redraws it."""


def run_panel(run: Run, store: RunStore) -> None:
    """One run as it stands: status, device, outcome when it has ended, then the live panel (progress, speed and
    ETA, curves), which follows the run in the browser while it is active."""
    head, stop = st.columns([5, 1], vertical_alignment="center")
    parts = [f"**{as_text(run.name)}**", _("run {id}").format(id=run.id)]
    if run.sweep:
        parts.append(_("sweep *{name}*").format(name=as_text(run.sweep)))
    device = run.progress.device or run.device
    parts += [status_markdown(run.status), _shown(device) or _("device not chosen yet")]
    if run.resumes:
        parts.append(_("continued from epoch {epoch}").format(epoch=format(run.resumes[-1]["from_epoch"], "g")))
    head.markdown(" · ".join(parts))
    guard = _stop_button(run, store, stop) if run.active else 0.0
    base = st.get_option("server.baseUrlPath")  # the app's routes are served under it (nin_core/runs/live.py)
    state = panel_state(run, store, base_url_path=base)
    if run.status == RunStatus.QUEUED:
        place = state["signature"]["place"]
        st.info((_("Queued, number {place} in line: it starts when the runs before it end.") if place
                 else _("Queued: it starts when the runs before it end.")).format(place=place),
                icon=":material/schedule:")
    if run.status == RunStatus.FINISHED:
        st.success(final_line(run) or _("Finished."), icon=":material/check_circle:")
        if run.message:
            st.warning(_shown(run.message) + (f"  \n{_shown(run.hint)}" if run.hint else ""))
    elif run.status in PROBLEMS:
        st.error(_("Run {status}: {message}").format(status=run.status.label,
                                                     message=_shown(run.message) or _("no message")),
                 icon=":material/error:")
        if run.hint:
            st.info(_shown(run.hint), icon=":material/lightbulb:")
    elif run.status == RunStatus.STOPPED:
        st.warning(_("Stopped: {message}").format(message=_shown(run.message))
                   + (f"  \n{final_line(run)}" if final_line(run) else ""))
    # the panel reruns the page once the Stop button's guard is over, to enable it (nothing else reruns it)
    _LIVE_PANEL(data=state | {"rerun_in_ms": int(guard * 1000) + 50 if guard else None},
                key=f"live-{run.id}", on_changed_change=_page_changes)
    if not run.active and not jobs.continue_issues(store, run, run.config.train.epochs + 1)[0]:
        continue_form(run, store)


def live_run(run_id: int) -> None:
    """``run_panel`` in a fragment: when the run starts, is asked to stop or moves up the queue, only the panel
    reruns; when it ends, the whole page reruns once (what depends on the run updates)."""
    was_active = get_store().get_run(run_id).active

    def panel() -> None:
        store = get_store()
        run = store.get_run(run_id)
        if was_active and not run.active:
            st.rerun(scope="app")
        run_panel(run, store)

    st.fragment(panel)()

"""Runs: every run at a glance, their curves side by side, and one run looked at closely."""

from itertools import islice
from pathlib import Path

import streamlit as st

from nin_core.network.charts import confusion_figure, curves_figure, enlarge, per_class_figure
from nin_core.network.checkpoint import CheckpointError
from nin_core.network.data import DataNotFoundError
from nin_core.network.evaluation import (
    DEFAULT_EVAL_SIZE,
    Evaluation,
    checkpoint_stamp,
    evaluate_checkpoint,
    gallery_images,
)
from nin_core.network.status import RunStatus
from nin_core.runs.charts import differences, group_label, groups_styler, hyperparameter_figure, runs_styler
from nin_core.runs.groups import curves_of, group_runs
from ui.live_run import continue_form
from ui.state import get_store, inside_app
from ui.text import as_text

inside_app()

GALLERY = 24
GALLERY_COLUMNS = 8
REFRESH_S = 3.0  # new runs and status changes (another tab, the worker, the command line) show within this
SHOWN = "nin.runs_shown"  # the run looked at closely when the page was last drawn: (id, name)


@st.cache_data(max_entries=16, show_spinner="Evaluating on the test set…")
def evaluation(path: str, stamp: float, size: int) -> Evaluation:  # stamp: the file's mtime, part of the key
    return evaluate_checkpoint(path, size)


def _states(runs) -> list[tuple[int, str]]:
    return [(r.id, r.status) for r in runs]


def _follow(drawn: list[tuple[int, str]]) -> None:
    """Rerun the page when a run appears, goes or changes status. Only this check polls, drawing nothing: the
    page is drawn again only when something changed."""
    if _states(get_store().list_runs()) != drawn:
        st.rerun(scope="app")


st.title("Runs")
store = get_store()
if message := st.session_state.pop("runs_flash", None):
    st.success(message)
runs = store.list_runs()
st.fragment(_follow, run_every=REFRESH_S)(_states(runs))
if not runs:
    st.info("No runs yet: configure one and start it on *Playground & training*.")
    st.stop()
looked_at = st.session_state.get(SHOWN)
if looked_at and looked_at[0] not in {r.id for r in runs}:  # deleted here: the flash above says so
    st.info(f"Run #{looked_at[0]} ({as_text(looked_at[1])}) was deleted in another tab or from the command line.",
            icon=":material/info:")
experiments = sorted({r.experiment for r in runs if r.experiment})
if experiments:  # the Exercises page's runs carry their experiment's name
    chosen = st.selectbox("Experiment", ["all runs", *experiments], key="runs-experiment")
    runs = runs if chosen == "all runs" else [r for r in runs if r.experiment == chosen]

groups = group_runs(runs)
if st.toggle("Each run on its own", key="runs.singles", disabled=len(groups) == len(runs),
             help="The repeats of a configuration over seeds are one row, their mean; on: a row per run."):
    st.dataframe(runs_styler(runs), hide_index=True)
else:
    st.dataframe(groups_styler(groups), hide_index=True)

by_group = {group_label(g): g for g in groups}
st.subheader("Curves")
# Keyed, the choices outlive a new run in the list; at first, the newest runs with curves to show.
picked = st.multiselect("Runs to compare", list(by_group), key="runs.compare", default=list(islice(
    (label for label, g in by_group.items() if any(r.status != RunStatus.QUEUED and store.metrics(r.id)
                                                   for r in g.runs)), 4)))
if picked:
    points, bands = curves_of(store, {label: by_group[label].runs for label in picked})
    st.plotly_chart(curves_figure(points, bands=bands))
    if bands:
        st.caption("A group of seeds is drawn as its mean, shaded from its lowest to its highest seed.")
    for line in differences({label: by_group[label] for label in picked}):
        st.caption(as_text(line))

by_label = {f"#{r.id} {r.name}": r for r in runs}
if any(isinstance(r.final.get("test_acc"), (int, float)) for r in runs):
    st.subheader("Hyperparameters against test accuracy")
    st.plotly_chart(hyperparameter_figure(runs))

st.subheader("One run")
run = by_label[st.selectbox("Run", list(by_label), key="runs.one")]  # keyed: kept when a run is added
st.session_state[SHOWN] = (run.id, run.name)
if run.message:
    st.caption(f"{run.status}: {run.message}" + (f" — {run.hint}" if run.hint else ""))
checkpoint = Path(run.checkpoint) if run.checkpoint and Path(run.checkpoint).is_file() else None  # None: none yet
actions = st.columns(3)
actions[0].download_button("Configuration (JSON)", run.config.to_json(), f"run-{run.id}-config.json",
                           "application/json", on_click="ignore")
if checkpoint is not None:
    actions[1].download_button("Checkpoint", checkpoint.read_bytes, f"run-{run.id}.pt", "application/octet-stream",
                               on_click="ignore")
if actions[2].button("Delete this run…"):
    if run.status == RunStatus.RUNNING:
        st.error(f"Run #{run.id} is still running: stop it first, then delete it.")
    else:
        st.session_state.confirm_delete = run.id
if st.session_state.get("confirm_delete") == run.id:
    st.warning(f"Delete run #{run.id} ({as_text(run.name)}) with its metrics and checkpoint? This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", type="primary"):
        del st.session_state.confirm_delete
        try:
            store.delete_run(run.id)
        except ValueError as e:  # it started running since the page was drawn
            st.error(str(e))
        else:
            st.session_state.runs_flash = f"Deleted run #{run.id} ({as_text(run.name)})."
            del st.session_state[SHOWN]
            st.rerun()
    if no.button("Cancel"):
        del st.session_state.confirm_delete
        st.rerun()

continue_form(run, store)

if checkpoint is None:
    st.info("This run has no checkpoint yet, so there is nothing to evaluate.")
    st.stop()
size = st.number_input("Test images to evaluate", 100, 10_000, DEFAULT_EVAL_SIZE, step=500,
                       help="A seeded random subset of the 10,000 test images; more is slower but steadier.")
if st.toggle("Evaluate on the test set", key=f"evaluate_{run.id}"):
    try:
        result = evaluation(str(checkpoint), checkpoint_stamp(checkpoint), int(size))
    except (CheckpointError, DataNotFoundError) as e:
        st.error(str(e))
        st.stop()
    st.metric("Accuracy", f"{result.accuracy:.1%}", help=f"on {result.n:,} test images")
    left, right = st.columns([3, 2])
    left.plotly_chart(confusion_figure(result.confusion, result.class_names))
    right.plotly_chart(per_class_figure(result.per_class_accuracy, result.class_names))
    shown = result.mistakes[:GALLERY]
    st.markdown(f"**Mistakes** ({len(result.mistakes):,}; the {len(shown)} most confident shown, true → predicted)")
    images = gallery_images((m.index for m in shown), result.meta["data_dir"])
    for i, (m, image) in enumerate(zip(shown, images, strict=True)):
        if i % GALLERY_COLUMNS == 0:  # a row of columns each: a caption that wraps lowers only its own row
            cells = st.columns(GALLERY_COLUMNS)
        cells[i % GALLERY_COLUMNS].image(enlarge(image, 112), caption=f"{result.class_names[m.true]} → "
                                         f"{result.class_names[m.predicted]} {m.confidence:.0%}")

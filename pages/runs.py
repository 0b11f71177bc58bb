"""Runs: every run at a glance, their curves side by side, and one run looked at closely."""

from itertools import islice
from pathlib import Path

import streamlit as st

from nin_core.i18n import N_, _, format_count
from nin_core.lab.exercises import EXERCISES, Experiment
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
from nin_core.runs.charts import (
    differences,
    group_label,
    group_value,
    groups_styler,
    hyperparameter_figure,
    runs_styler,
)
from nin_core.runs.groups import curves_of, group_runs
from ui.live_run import continue_form
from ui.state import get_store, inside_app, translated_choice
from ui.text import as_text

inside_app()

GALLERY = 24
GALLERY_COLUMNS = 8
REFRESH_S = 3.0  # new runs and status changes (another tab, the worker, the command line) show within this
SHOWN = "nin.runs_shown"  # the run looked at closely when the page was last drawn: (id, name)
ALL = N_("all runs")  # the experiment choice that shows every run (a value: shown with _())


@st.cache_data(max_entries=16, show_spinner=False)
def evaluation(path: str, stamp: float, size: int) -> Evaluation:  # stamp: the file's mtime, part of the key
    return evaluate_checkpoint(path, size)  # its class names are the catalog's English ones: shown with _()


def experiment_label(name: str) -> str:
    """An experiment as its runs carry it (stored, in English) in the reader's language: an exercise by its title,
    a search by its study's name."""
    if name == ALL:
        return _(ALL)
    if ex := next((ex for ex in EXERCISES.values() if isinstance(ex, Experiment) and ex.name == name), None):
        return _("exercise {number}: {title}").format(number=ex.number, title=_(ex.title))
    return _("search {study}").format(study=name.removeprefix("search ")) if name.startswith("search ") else name


def _states(runs) -> list[tuple[int, str]]:
    return [(r.id, r.status) for r in runs]


def _follow(drawn: list[tuple[int, str]]) -> None:
    """Rerun the page when a run appears, goes or changes status. Only this check polls, drawing nothing: the
    page is drawn again only when something changed."""
    if _states(get_store().list_runs()) != drawn:
        st.rerun(scope="app")


st.title(_("Runs"))
store = get_store()
if message := st.session_state.pop("runs_flash", None):
    st.success(message)
runs = store.list_runs()
st.fragment(_follow, run_every=REFRESH_S)(_states(runs))
if not runs:
    st.info(_("No runs yet: configure one and start it on *Playground & training*."))
    st.stop()
looked_at = st.session_state.get(SHOWN)
if looked_at and looked_at[0] not in {r.id for r in runs}:  # deleted here: the flash above says so
    st.info(_("Run #{id} ({name}) was deleted in another tab or from the command line.").format(
        id=looked_at[0], name=as_text(looked_at[1])), icon=":material/info:")
experiments = sorted({r.experiment for r in runs if r.experiment})
if experiments:  # the Exercises page's runs carry their experiment's name
    choices = {e: experiment_label(e) for e in (ALL, *experiments)}  # formatted here, in the page's language
    chosen = st.selectbox(_("Experiment"), list(choices), key=translated_choice("runs-experiment"),
                          format_func=choices.__getitem__)
    runs = runs if chosen == ALL else [r for r in runs if r.experiment == chosen]

groups = group_runs(runs)
if st.toggle(_("Each run on its own"), key="runs.singles", disabled=len(groups) == len(runs),
             help=_("The repeats of a configuration over seeds are one row, their mean; on: a row per run.")):
    st.dataframe(runs_styler(runs), hide_index=True)
else:
    st.dataframe(groups_styler(groups), hide_index=True)

# The choices hold each group's value (``#12–14 tiny``, in no language) and show its label (``… (3 seeds)``).
by_group = {group_value(g): g for g in groups}
labels = {value: group_label(g) for value, g in by_group.items()}
st.subheader(_("Curves"))
# Keyed, the choices outlive a new run in the list; at first, the newest runs with curves to show.
picked = st.multiselect(_("Runs to compare"), list(by_group), key=translated_choice("runs.compare"),
                        format_func=labels.__getitem__,
                        default=list(islice((value for value, g in by_group.items() if any(
                            r.status != RunStatus.QUEUED and store.metrics(r.id) for r in g.runs)), 4)))
if picked:
    points, bands = curves_of(store, {labels[value]: by_group[value].runs for value in picked})
    st.plotly_chart(curves_figure(points, bands=bands))
    if bands:
        st.caption(_("A group of seeds is drawn as its mean, shaded from its lowest to its highest seed."))
    for line in differences({labels[value]: by_group[value] for value in picked}):
        st.caption(as_text(line))

by_label = {f"#{r.id} {r.name}": r for r in runs}
if any(isinstance(r.final.get("test_acc"), (int, float)) for r in runs):
    st.subheader(_("Hyperparameters against test accuracy"))
    st.plotly_chart(hyperparameter_figure(runs))

st.subheader(_("One run"))
run = by_label[st.selectbox(_("Run"), list(by_label), key="runs.one")]  # keyed: kept when a run is added
st.session_state[SHOWN] = (run.id, run.name)
if run.message:
    # run.message and run.hint: stored by the worker, in the language of the process that wrote them
    st.caption(_("{status}: {message}").format(status=run.status.label, message=run.message)
               + (f" — {run.hint}" if run.hint else ""))
checkpoint = Path(run.checkpoint) if run.checkpoint and Path(run.checkpoint).is_file() else None  # None: none yet
actions = st.columns(3)
actions[0].download_button(_("Configuration (JSON)"), run.config.to_json(), f"run-{run.id}-config.json",
                           "application/json", on_click="ignore")
if checkpoint is not None:
    actions[1].download_button(_("Checkpoint"), checkpoint.read_bytes, f"run-{run.id}.pt", "application/octet-stream",
                               on_click="ignore")
if actions[2].button(_("Delete this run…")):
    if run.status == RunStatus.RUNNING:
        st.error(_("Run #{id} is still running: stop it first, then delete it.").format(id=run.id))
    else:
        st.session_state.confirm_delete = run.id
if st.session_state.get("confirm_delete") == run.id:
    st.warning(_("Delete run #{id} ({name}) with its metrics and checkpoint? This cannot be undone.").format(
        id=run.id, name=as_text(run.name)))
    yes, no = st.columns(2)
    if yes.button(_("Yes, delete it"), type="primary"):
        del st.session_state.confirm_delete
        try:
            store.delete_run(run.id)
        except ValueError as e:  # it started running since the page was drawn
            st.error(str(e))
        else:
            st.session_state.runs_flash = _("Deleted run #{id} ({name}).").format(id=run.id, name=as_text(run.name))
            del st.session_state[SHOWN]
            st.rerun()
    if no.button(_("Cancel")):
        del st.session_state.confirm_delete
        st.rerun()

continue_form(run, store)

if checkpoint is None:
    st.info(_("This run has no checkpoint yet, so there is nothing to evaluate."))
    st.stop()
size = st.number_input(_("Test images to evaluate"), 100, 10_000, DEFAULT_EVAL_SIZE, step=500,
                       help=_("A seeded random subset of the 10,000 test images; more is slower but steadier."))
if st.toggle(_("Evaluate on the test set"), key=f"evaluate_{run.id}"):
    try:
        with st.spinner(_("Evaluating on the test set…")):
            result = evaluation(str(checkpoint), checkpoint_stamp(checkpoint), int(size))
    except (CheckpointError, DataNotFoundError) as e:
        st.error(str(e))
        st.stop()
    st.metric(_("Accuracy"), f"{result.accuracy:.1%}", help=_("on {n} test images").format(n=format_count(result.n)))
    left, right = st.columns([3, 2])
    left.plotly_chart(confusion_figure(result.confusion, result.class_names))
    right.plotly_chart(per_class_figure(result.per_class_accuracy, result.class_names))
    shown = result.mistakes[:GALLERY]
    st.markdown(_("**Mistakes** ({n}; the {shown} most confident shown, true → predicted)").format(
        n=format_count(len(result.mistakes)), shown=len(shown)))
    images = gallery_images((m.index for m in shown), result.meta["data_dir"])
    for i, (m, image) in enumerate(zip(shown, images, strict=True)):
        if i % GALLERY_COLUMNS == 0:  # a row of columns each: a caption that wraps lowers only its own row
            cells = st.columns(GALLERY_COLUMNS)
        cells[i % GALLERY_COLUMNS].image(enlarge(image, 112), caption=f"{_(result.class_names[m.true])} → "
                                         f"{_(result.class_names[m.predicted])} {m.confidence:.0%}")

"""Search: choose settings and their ranges, let Optuna sample them, stop hopeless trials early, and see which
settings mattered; each trial is a run (on *Runs*) judged on a validation split, never the test set."""

import streamlit as st

from nin_core.i18n import _
from nin_core.lab.search import default_storage, start_worker, worker_running
from nin_core.network.config import ConfigError
from ui import search_parts as parts
from ui.state import get_config, get_store, inside_app
from ui.text import as_text

inside_app()

REFRESH_S = 3.0  # while a worker runs, its new trials show within this

st.title(_("Search"))
st.caption(_("Each trial trains the base configuration with the searched settings sampled by Optuna, as a run of its "
             "own, and is judged on its validation accuracy after every epoch; the pruner stops trials that fall "
             "behind. From the shell, on one machine or many sharing a storage: `python -m nin_core search`."))
store = get_store()
spec, issues = parts.search_form(get_config())
parts.show_issues(issues)
if st.button(_("Start search"), type="primary", disabled=bool(issues), icon=":material/play_arrow:"):
    try:
        start_worker(spec, store)
        st.success(_("Search {study} started in the background: its trials appear below and on *Runs*.").format(
            study=as_text(repr(spec.study))))
    except ConfigError as e:
        parts.show_issues(e.issues)

st.divider()


@st.fragment(run_every=REFRESH_S if worker_running(store, spec.study) else None)
def shown_study() -> None:
    storage = spec.storage or default_storage(store)
    study = parts.pick_study(storage, spec.study)
    if study is None:
        return
    if worker_running(store, study.study_name):
        st.caption(":material/autorenew: " + _("a worker started here is adding trials"))
    parts.study_view(study, storage, store)


shown_study()

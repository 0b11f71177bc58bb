"""The Search page's parts: the form that writes a search (its space from the settings table) and the view of a
study (its trials, Optuna's figures, the best trial)."""

from __future__ import annotations

from urllib.parse import urlencode

import optuna
import streamlit as st

from nin_core.lab.search import (
    PRUNERS,
    SAMPLERS,
    Param,
    SearchSpec,
    best_config,
    default_param,
    figures,
    final_runs,
    open_storage,
    parse_param,
    queue_final,
    searchable,
    spec_issues,
    study_names,
    trials_table,
    validation_ready,
)
from nin_core.network.config import PRESETS, SETTINGS, ConfigError, ConfigIssue, RunConfig
from nin_core.runs import jobs
from nin_core.runs.store import RunStore
from nin_core.runs.urlconfig import describe, encode
from ui.live_run import launched_here, status_markdown
from ui.text import as_code, as_text

PLAYGROUND = "the playground's configuration"
PRUNER_NAMES = {"asha": "successive halving (ASHA)", "median": "median", "hyperband": "Hyperband", "none": "none"}
FIRST_SPACE = ["lr", "batch_norm"]


def base_picker(playground: RunConfig) -> RunConfig:
    """The configuration every trial starts from: the playground's, or a preset."""
    choice = st.selectbox("Base configuration", [PLAYGROUND, *PRESETS], key="nin.search.base",
                          help="each trial is this configuration with the searched settings changed")
    base = playground if choice == PLAYGROUND else PRESETS[choice]
    ready, note = validation_ready(base)
    st.caption(f"{as_text(describe(ready))}" + (f" — {as_text(note)}." if note else ""))
    return base


def space_editor() -> tuple[list[Param], list[ConfigIssue]]:
    """The settings to search, each with its range (low..high, :log) or its choices (a,b,c)."""
    names = st.multiselect("Settings to search", searchable(), default=FIRST_SPACE, key="nin.search.names",
                           format_func=lambda n: f"{SETTINGS[n].spec.label} ({n})")
    params: list[Param] = []
    issues: list[ConfigIssue] = []
    columns = st.columns(3)
    for i, name in enumerate(names):
        with columns[i % 3]:
            text = st.text_input(f"{SETTINGS[name].spec.label} ({name})", default_param(name).text.partition("=")[2],
                                 key=f"nin.search.param.{name}",
                                 help="a range low..high (low..high:log on a log scale) or choices a,b,c")
        param, issue = parse_param(f"{name}={text}")
        if param:
            params.append(param)
        if issue:
            issues.append(issue)
    return params, issues


def search_form(playground: RunConfig) -> tuple[SearchSpec, list[ConfigIssue]]:
    """Everything a search needs, and every problem with it (one line each)."""
    base = base_picker(playground)
    params, issues = space_editor()
    sampler_col, pruner_col, trials_col, minutes_col = st.columns(4)
    sampler = sampler_col.selectbox("Sampler", SAMPLERS, key="nin.search.sampler",
                                    help="tpe: learns where good trials are; random; grid: every combination")
    pruner = pruner_col.selectbox("Pruner", PRUNERS, format_func=PRUNER_NAMES.__getitem__, key="nin.search.pruner",
                                  help="stops a trial whose validation accuracy falls behind the others' after an "
                                       "epoch")
    trials = trials_col.number_input("Trials", min_value=1, max_value=1000, value=10, key="nin.search.trials")
    minutes = minutes_col.number_input("Minutes (0: no limit)", min_value=0.0, value=0.0, step=5.0,
                                       key="nin.search.minutes", help="no trial starts after this long")
    study_col, storage_col = st.columns([1, 2])
    study = study_col.text_input("Study", "search", key="nin.search.study", help="the same name continues a study")
    storage = storage_col.text_input("Storage", "", key="nin.search.storage", placeholder="search.db beside the runs",
                                     help="empty: a SQLite file beside the run store; or postgresql://user@host/db, "
                                          "mysql://…, journal:PATH — every machine given it adds trials to the study")
    spec = SearchSpec(study.strip(), tuple(params), base, sampler, pruner, int(trials), float(minutes) or None,
                      storage.strip() or None)
    if not issues:
        issues = spec_issues(SearchSpec(**{**spec.__dict__, "base": validation_ready(base)[0]}))
    return spec, issues


def show_issues(issues: list[ConfigIssue]) -> None:
    for issue in issues:
        st.error(f"{as_code(issue.field)} {as_text(issue.message)}", icon=":material/error:")


def pick_study(storage: str, wanted: str) -> optuna.Study | None:
    """The study to look at, among those in the storage (the form's own first, when it exists)."""
    try:
        names = study_names(storage)
    except ConfigError as e:
        show_issues(e.issues)
        return None
    if not names:
        st.info("No study yet: choose the settings to search above and start one.")
        return None
    name = st.selectbox("Study shown", names, index=names.index(wanted) if wanted in names else 0,
                        key="nin.search.shown")
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def study_view(study: optuna.Study, store: RunStore) -> None:
    """The study's trials, Optuna's figures and its best trial."""
    trials = trials_table(study)
    states = [t["state"] for t in trials]
    st.caption(f"{len(trials)} trials: " + ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))))
    best_trial(study, store)
    drawn = figures(study)
    columns = st.columns(2)
    for i, (title, figure) in enumerate(drawn.items()):
        with columns[i % 2]:
            st.markdown(f"**{title}**")
            if isinstance(figure, str):
                st.caption(as_text(figure))
            else:
                st.plotly_chart(figure, key=f"nin.search.figure.{i}")
    st.dataframe(trials, hide_index=True)


def best_trial(study: optuna.Study, store: RunStore) -> None:
    """The best trial: its link to the playground, its configuration, and its one test (the full training set)."""
    config = best_config(study)
    if config is None:
        return
    st.markdown(f"**Best trial: #{study.best_trial.number}**, validation accuracy {study.best_value:.4f}")
    link, final = st.columns(2)
    link.link_button("Open in the playground", "/?" + urlencode(encode(config)), icon=":material/tune:")
    if done := final_runs(study, store):
        run = done[0]
        test = run.final.get("test_acc")
        final.markdown(f"On the full training set: run {run.id}, {status_markdown(run.status)}"
                       + (f", test accuracy **{test:.4f}**" if test is not None else ""))
    elif final.button("Train on the full training set and test once", icon=":material/school:",
                      help="the best trial's configuration without the validation split: its test accuracy is "
                           "the search's honest result, measured once"):
        run_id = queue_final(study, store)
        launched_here(run_id)
        jobs.ensure_worker(store)
        st.toast(f"Queued run {run_id}: the best trial on the full training set.", icon=":material/school:")
        st.rerun()
    with st.expander("Its configuration"):
        st.code(config.to_json(), language="json")

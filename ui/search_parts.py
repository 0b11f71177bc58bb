"""The Search page's parts: the form that writes a search (its space from the settings table) and the view of a
study (its trials, Optuna's figures, the best trial)."""

from __future__ import annotations

from urllib.parse import urlencode

import optuna
import streamlit as st

from nin_core.i18n import DEFAULT, N_, _, format_in_language, language, ngettext
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
    version,
)
from nin_core.network.config import PRESETS, SETTINGS, ConfigError, ConfigIssue, RunConfig
from nin_core.runs import jobs
from nin_core.runs.store import RunStore
from nin_core.runs.urlconfig import describe, encode
from ui.live_run import launched_here, status_markdown
from ui.state import translated_choice
from ui.text import as_code, as_text

PLAYGROUND = "the playground's configuration"  # the choice's value; shown as PLAYGROUND_LABEL
PLAYGROUND_LABEL = N_("the playground's configuration")
SAMPLER_NAMES = {"tpe": N_("TPE"), "random": N_("random"), "grid": N_("grid")}
PRUNER_NAMES = {"asha": N_("successive halving (ASHA)"), "median": N_("median"), "hyperband": N_("Hyperband"),
                "none": N_("none")}
FIRST_SPACE = ["lr", "batch_norm"]
# The trials table's columns (its data, in English) and its states, shown in the reader's language.
TRIAL_COLUMNS = {"trial": N_("trial"), "state": N_("state"), "validation acc": N_("validation acc"),
                 "epochs": N_("epochs"), "run": N_("run")}
BOOLEANS = {"true": N_("yes"), "false": N_("no")}  # a switch's value in the table (format_value writes it)
STATES = {"complete": N_("complete"), "pruned": N_("pruned"), "fail": N_("fail"), "running": N_("running"),
          "waiting": N_("waiting")}


def setting_choice(name: str) -> str:
    """A setting among the choices: ``Learning rate (lr)``; in another language its label alone (a choice shows
    no code, and the field it adds names the key)."""
    label = _(SETTINGS[name].spec.label)
    return f"{label} ({name})" if language() == DEFAULT else label


def setting_field(name: str) -> str:
    """A field's label: ``Learning rate (lr)``, the key as code where the language is not English."""
    return _("{label} ({name})").format(label=_(SETTINGS[name].spec.label), name=name)


def shown_cell(column: str, value: object) -> object:
    """A cell of the trials table as the reader reads it: a state or a switch's value in words of their language."""
    if column == "state" and isinstance(value, str):
        return _(STATES.get(value, value))
    if column not in TRIAL_COLUMNS and value in BOOLEANS:
        return _(BOOLEANS[str(value)])
    return value


def param_column(name: str) -> str:
    """A searched setting's column in the trials table: its key; in another language its label."""
    return name if language() == DEFAULT else _(SETTINGS[name].spec.label)


def base_picker(playground: RunConfig) -> RunConfig:
    """The configuration every trial starts from: the playground's, or a preset."""
    choice = st.selectbox(_("Base configuration"), [PLAYGROUND, *PRESETS], key=translated_choice("nin.search.base"),
                          format_func=format_in_language(lambda c: _(PLAYGROUND_LABEL) if c == PLAYGROUND else c),
                          help=_("each trial is this configuration with the searched settings changed"))
    base = playground if choice == PLAYGROUND else PRESETS[choice]
    ready, note = validation_ready(base)
    st.caption(as_code(describe(ready)) + (_(" — {note}.").format(note=note) if note else ""))
    return base


def space_editor() -> tuple[list[Param], list[ConfigIssue]]:
    """The settings to search, each with its range (low..high, :log) or its choices (a,b,c)."""
    names = st.multiselect(_("Settings to search"), searchable(), default=FIRST_SPACE,
                           key=translated_choice("nin.search.names"), format_func=format_in_language(setting_choice))
    params: list[Param] = []
    issues: list[ConfigIssue] = []
    columns = st.columns(3)
    for i, name in enumerate(names):
        with columns[i % 3]:
            text = st.text_input(setting_field(name), default_param(name).text.partition("=")[2],
                                 key=f"nin.search.param.{name}",
                                 help=_("a range `low..high` (`low..high:log` on a log scale) or choices `a,b,c`"))
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
    sampler = sampler_col.selectbox(_("Sampler"), SAMPLERS,
                                    format_func=format_in_language(lambda n: _(SAMPLER_NAMES[n])),
                                    key=translated_choice("nin.search.sampler"),
                                    help=_("TPE: learns where good trials are; random; grid: every combination"))
    pruner = pruner_col.selectbox(_("Pruner"), PRUNERS,
                                  format_func=format_in_language(lambda n: _(PRUNER_NAMES[n])),
                                  key=translated_choice("nin.search.pruner"),
                                  help=_("stops a trial whose validation accuracy falls behind the others' after an "
                                         "epoch"))
    trials = trials_col.number_input(_("Trials"), min_value=1, max_value=1000, value=10, key="nin.search.trials")
    minutes = minutes_col.number_input(_("Minutes (0: no limit)"), min_value=0.0, value=0.0, step=5.0,
                                       key="nin.search.minutes", help=_("no trial starts after this long"))
    base_first = st.toggle(_("Try the base configuration first"), key="nin.search.base_first",
                           help=_("a new study's first trial is the base configuration's own values of the searched "
                                  "settings: the search then says whether anything beats them"))
    study_col, storage_col = st.columns([1, 2])
    study = study_col.text_input(_("Study"), "search", key="nin.search.study",
                                 help=_("the same name continues a study"))
    storage = storage_col.text_input(_("Storage"), "", key="nin.search.storage",
                                     placeholder=_("search.db beside the runs"),
                                     help=_("empty: a SQLite file beside the run store; or "
                                            "`postgresql://user@host/db`, `mysql://…`, `journal:PATH` — every machine "
                                            "given it adds trials to the study"))
    spec = SearchSpec(study.strip(), tuple(params), base, sampler, pruner, int(trials), float(minutes) or None,
                      storage.strip() or None, base_first)
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
        st.info(_("No study yet: choose the settings to search above and start one."))
        return None
    name = st.selectbox(_("Study shown"), names, index=names.index(wanted) if wanted in names else 0,
                        key="nin.search.shown")
    return optuna.load_study(study_name=name, storage=open_storage(storage))


@st.cache_data(max_entries=8, show_spinner=False)
def _figures(_study: optuna.Study, storage: str, name: str, drawn_from: tuple, lang: str) -> dict:
    """Optuna's figures of a study, made again only when its trials changed: while a worker adds trials the page
    reruns every few seconds, and each set of figures is a third of a second of CPU beside the trial training."""
    return figures(_study)


def study_view(study: optuna.Study, storage: str, store: RunStore) -> None:
    """The study's trials, Optuna's figures and its best trial."""
    trials = trials_table(study)
    states = [t["state"] for t in trials]
    counts = _(", ").join(_("{count} {state}").format(count=states.count(s), state=_(STATES.get(s, s)))
                          for s in sorted(set(states)))
    st.caption(ngettext("{count} trial: {states}", "{count} trials: {states}", len(trials)).format(
        count=len(trials), states=counts))
    best_trial(study, store)
    drawn = _figures(study, storage, study.study_name, version(study), language())
    columns = st.columns(2)
    for i, (title, figure) in enumerate(drawn.items()):
        with columns[i % 2]:
            st.markdown(f"**{_(title)}**")
            if isinstance(figure, str):
                st.caption(as_text(figure))
            else:
                st.plotly_chart(figure, key=f"nin.search.figure.{i}")
    shown = [{_(TRIAL_COLUMNS[k]) if k in TRIAL_COLUMNS else param_column(k): shown_cell(k, v)
              for k, v in row.items()} for row in trials]
    st.dataframe(shown, hide_index=True)


def best_trial(study: optuna.Study, store: RunStore) -> None:
    """The best trial: its link to the playground, its configuration, and its one test (the full training set)."""
    config = best_config(study)
    if config is None:
        return
    st.markdown(_("**Best trial: #{number}**, validation accuracy {accuracy}").format(
        number=study.best_trial.number, accuracy=f"{study.best_value:.4f}"))
    link, final = st.columns(2)
    link.link_button(_("Open in the playground"), "/?" + urlencode(encode(config)), icon=":material/tune:")
    if done := final_runs(study, store):
        run = done[0]
        test = run.final.get("test_acc")
        final.markdown(_("On the full training set: run {id}, {status}").format(id=run.id,
                                                                                 status=status_markdown(run.status))
                       + (_(", test accuracy **{accuracy}**").format(accuracy=f"{test:.4f}")
                          if test is not None else ""))
    elif final.button(_("Train on the full training set and test once"), icon=":material/school:",
                      help=_("the best trial's configuration without the validation split: its test accuracy is "
                             "the search's honest result, measured once")):
        run_id = queue_final(study, store)
        launched_here(run_id)
        jobs.ensure_worker(store)
        st.toast(_("Queued run {id}: the best trial on the full training set.").format(id=run_id),
                 icon=":material/school:")
        st.rerun()
    with st.expander(_("Its configuration")):
        st.code(config.to_json(), language="json")

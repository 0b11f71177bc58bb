"""The Search page: its space editor from the settings table, each problem one line with Start disabled, a study
from the storage with Optuna's figures and the best trial's link, and Start refusing a study of another space."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import optuna
from conftest import APP, rendered, widget
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from streamlit.testing.v1 import AppTest

from nin_core.lab import search
from nin_core.lab.search import SearchSpec, parse_param
from nin_core.network.config import TINY


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    return at


def start_button(at: AppTest):
    return widget(at, "button", "Start search")


def test_the_form_offers_the_sweepable_settings_each_with_a_range_or_choices(nin_home):
    at = open_page()
    chooser = widget(at, "multiselect", "Settings to search")
    assert chooser.options == [f"{search.SETTINGS[n].spec.label} ({n})" for n in search.searchable()]
    assert widget(at, "text_input", "Learning rate (lr)").value == "0.01..1:log"
    assert widget(at, "text_input", "Batch norm (batch_norm)").value == "false,true"
    assert not at.error and not start_button(at).disabled
    assert any("No study yet" in i.value for i in at.info)


def test_a_bad_range_is_one_line_and_nothing_can_start(nin_home):
    at = open_page()
    widget(at, "text_input", "Learning rate (lr)").set_value("0.5..0.01").run()
    assert [rendered(e.value) for e in at.error] == ["lr the range 0.5..0.01 is reversed: write the low end first"]
    assert start_button(at).disabled
    widget(at, "text_input", "Learning rate (lr)").set_value("0..0.5:log").run()
    assert [rendered(e.value) for e in at.error] == ["lr a log range must stay above 0, got 0..0.5"]


def small_study(store):
    """A small study: three complete trials and a pruned one."""
    spec = SearchSpec("search", (parse_param("lr=0.001..0.01:log")[0], parse_param("batch_norm")[0]),
                      search.validation_ready(TINY)[0])
    study = search.open_study(spec, store)
    space = {"lr": FloatDistribution(0.001, 0.01, log=True), "batch_norm": CategoricalDistribution((False, True))}
    for lr, bn, curve, state in ((0.002, False, [0.3, 0.5], TrialState.COMPLETE),
                                 (0.004, True, [0.4, 0.7], TrialState.COMPLETE),
                                 (0.008, False, [0.1], TrialState.PRUNED),
                                 (0.003, True, [0.35, 0.6], TrialState.COMPLETE)):
        study.add_trial(create_trial(state=state, params={"lr": lr, "batch_norm": bn}, distributions=space,
                                     value=curve[-1] if state == TrialState.COMPLETE else None,
                                     intermediate_values=dict(enumerate(curve, start=1))))
    return study


def test_a_study_shows_its_figures_its_trials_and_its_best_trial_with_a_playground_link(store):
    small_study(store)
    at = open_page()
    assert not at.error, [e.value for e in at.error]
    titles = [m.value for m in at.markdown]
    for title in ("**Optimisation history**", "**Every trial's validation accuracy by epoch**",
                  "**Parallel coordinates**", "**Importance of the settings**"):
        assert title in titles
    assert len(at.get("plotly_chart")) == 4
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (intermediate,) = [f for f in specs if f["layout"]["title"]["text"] == "Intermediate Values Plot"]
    curves = {t["name"]: t for t in intermediate["data"]}
    assert sorted(curves) == ["Trial0", "Trial1", "Trial2 (pruned)", "Trial3"]
    assert curves["Trial2 (pruned)"]["line"]["dash"] == "dot"  # cut after its first epoch, and dotted
    assert "**Best trial: #1**, validation accuracy 0.7000" in titles
    (link,) = at.get("link_button")
    query = parse_qs(urlparse(link.proto.url).query)
    assert query["lr"] == ["0.004"] and query["batch_norm"] == ["true"]
    frame = at.dataframe[0].value
    assert list(frame["state"]) == ["complete", "complete", "pruned", "complete"]
    assert "4 trials: 3 complete, 1 pruned" in [c.value for c in at.caption]


def test_start_refuses_a_study_that_exists_with_another_space_and_starts_nothing(store):
    search.open_study(SearchSpec("search", (parse_param("head")[0],), search.validation_ready(TINY)[0]), store)
    at = open_page()
    widget(at, "selectbox", "Base configuration").set_value("tiny").run()
    start_button(at).click().run()
    assert not at.exception, at.exception
    assert [rendered(e.value) for e in at.error] == [
        "study 'search' exists with another space (head=gap,fc): give that space, or another study name"]
    assert not (store.home / "search").exists() and store.list_runs() == []
    assert optuna.load_study(study_name="search", storage=search.default_storage(store)).trials == []


def test_the_best_trial_trains_once_on_the_full_training_set(store, monkeypatch):
    import nin_core.runs.jobs

    started = []
    monkeypatch.setattr(nin_core.runs.jobs, "ensure_worker", lambda s: started.append(s.home))  # drained elsewhere
    spec = SearchSpec("search", (parse_param("lr=0.001..0.01:log")[0],), search.validation_ready(TINY)[0])
    study = search.open_study(spec, store)
    for lr, value in ((0.002, 0.5), (0.004, 0.7)):
        study.add_trial(create_trial(params={"lr": lr}, distributions={"lr": FloatDistribution(0.001, 0.01, log=True)},
                                     value=value, intermediate_values={1: value}))
    at = open_page()
    widget(at, "button", "Train on the full training set and test once").click().run()
    assert not at.exception, at.exception
    (run,) = store.list_runs()
    assert store.home in started and run.status == "queued"
    assert run.name == "search search: best trial #1 on the full training set"
    assert run.config == TINY.with_overrides(lr=0.004, validation_size=0, test_size=None)  # all the training images
    assert not [b for b in at.button if b.label.startswith("Train on the full")]  # once: the run is shown instead
    assert any(f"On the full training set: run {run.id}" in m.value for m in at.markdown)
    assert search.queue_final(study, store) == run.id and len(store.list_runs()) == 1

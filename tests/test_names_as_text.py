"""A run's name (and its sweep's) is shown as written wherever the pages show it: never a link, an image (which
would load from another host) or formatting, whatever Markdown it holds."""

from __future__ import annotations

from html import escape

import pytest
import torch
from conftest import APP, widget
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.model import build_model
from nin_core.runs.store import RunStore

NAME = "[md](javascript:alert(1)) **bold** ![](http://127.0.0.1:9/x) :red[x] $x$ <b>"
MARKDOWN_KINDS = ("markdown", "caption", "info", "warning", "success", "error", "toast")
pytestmark = pytest.mark.usefixtures("fake_throughput", "no_demo")


def shown(at: AppTest) -> list[str]:
    """Every Markdown text on the page that holds the name, each rendered to HTML as CommonMark renders it."""
    assert not at.exception, [e.value for e in at.exception]
    sources = [str(e.value) for kind in MARKDOWN_KINDS for e in getattr(at, kind)]
    return [MarkdownIt("commonmark").render(s) for s in sources if "alert" in s]


def assert_as_text(html: str) -> None:
    """The name is in the text as written (so no link, image or emphasis was made of it), and no more."""
    assert escape(NAME, quote=False) in html, html
    assert "<img" not in html and "<a " not in html, html


def named_run(store: RunStore, *, checkpoint: bool = False, **kw) -> int:
    run_id = store.create_run(TINY, NAME, **kw)
    if checkpoint:
        path = save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", build_model(TINY.arch), TINY, epoch=1)
        store.set_checkpoint(run_id, path)
    store.finish(run_id, "finished", final={"train_loss": 2.0, "train_acc": 0.3, "test_acc": 0.25})
    return run_id


def test_the_training_page_shows_names_as_text(store, monkeypatch):
    import nin_core.runs.jobs

    monkeypatch.setattr(nin_core.runs.jobs, "ensure_worker", lambda store: None)  # no real training here
    first = store.create_run(TINY, "first")
    store.mark_running(first, "cpu")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    store.finish(first, "stopped", message="stopped in epoch 1, batch 3")
    theirs = store.create_run(TINY, NAME, sweep=NAME)  # started from the shell, as another tab would
    store.mark_running(theirs, "cpu")
    store.create_run(TINY, NAME)  # next in the queue
    at.run()
    texts = shown(at)
    assert len(texts) == 3
    for place in (f"· run {theirs} · sweep", f"Now showing run {theirs}", "Also in the queue"):
        [html] = [h for h in texts if place in h]
        assert_as_text(html)


def test_the_runs_page_shows_names_as_text(store):
    kept, deleted = named_run(store), named_run(store)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/runs.py").run()
    assert NAME in list(at.dataframe[0].value["name"])
    assert f"#{kept} {NAME}" in widget(at, "selectbox", "Run").options
    widget(at, "selectbox", "Run").set_value(f"#{deleted} {NAME}").run()
    store.delete_run(deleted)  # from another tab
    at.run()
    [gone] = shown(at)
    assert f"Run #{deleted}" in gone
    assert_as_text(gone)
    widget(at, "selectbox", "Run").set_value(f"#{kept} {NAME}").run()
    widget(at, "button", "Delete this run…").click().run()
    [warning] = shown(at)
    assert_as_text(warning)
    widget(at, "button", "Yes, delete it").click().run()
    [flash] = shown(at)
    assert f"Deleted run #{kept}" in flash
    assert_as_text(flash)


@pytest.mark.parametrize("page", ["pages/predict.py", "pages/explore.py"])
def test_the_model_pickers_show_names_as_text(page, store):
    torch.manual_seed(0)
    run_id = named_run(store, checkpoint=True)
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    [label] = [o for o in widget(at, "selectbox", "Model").options if o.startswith(f"#{run_id} ")]
    assert label.startswith(f"#{run_id} {NAME} (")  # an option is plain text: shown as written
    named_run(store, checkpoint=True)  # a model left once this one is deleted
    widget(at, "selectbox", "Model").set_value(label).run()
    store.delete_run(run_id)
    at.run()
    [gone] = shown(at)  # "… is no longer there"
    assert_as_text(gone)


def test_names_in_the_curves_legend_are_text():
    """Plotly reads HTML in a trace's name (``<a href>``, ``<b>``): the legend shows the name's ``<`` as ``<``."""
    from nin_core.network.charts import curves_figure
    from nin_core.network.metrics import MetricPoint

    points = [MetricPoint(1.0, 0.5, 0.6, 0.7)]
    figure = curves_figure({f"#1 {NAME}": points, "#2 other": points})
    assert [t.name for t in figure.data[:3]] == [f"#1 {escape(NAME, quote=False)}: {curve}"
                                                 for curve in ("train loss", "train acc", "test acc")]


def test_predict_names_the_run_it_waits_for_as_text(store):
    store.create_run(TINY, NAME)  # queued: no model yet
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/predict.py").run()
    [waiting] = shown(at)  # "Run #1 (…) is queued; come back when it finishes."
    assert_as_text(waiting)


# --- the names of uploaded files: chosen by whoever named the file ----------------------------------------------

FILE = NAME + ".png"


def test_uploaded_image_names_are_shown_as_text_on_predict_and_look_inside(store):
    from helpers import encode, item

    named_run(store, checkpoint=True)
    good, broken = (FILE, encode(item()), "image/png"), (FILE + ".broken.png", b"not an image", "image/png")
    predict = AppTest.from_file(APP, default_timeout=60)
    predict.switch_page("pages/predict.py").run()
    predict.file_uploader[0].set_value([good, broken]).run()
    explore = AppTest.from_file(APP, default_timeout=60)
    explore.switch_page("pages/explore.py").run()
    explore.button_group[0].set_value("Your own image").run()
    explore.file_uploader[0].set_value(good).run()
    found = [h for at in (predict, explore) for h in shown(at)]
    explore.file_uploader[0].set_value(broken).run()
    found += shown(explore)
    # predict: the prediction's heading and the broken file's warning; look inside: its title, then its warning
    assert len(found) == 4, found
    for html in found:
        assert_as_text(html)


def test_a_configuration_files_name_and_what_it_holds_are_shown_as_text(nin_home):
    """The file's name, and the setting names and values its message quotes from the file, all chosen by whoever
    wrote it; a backtick in a setting's name must not end the code span it is shown in."""
    import json

    value = "![](http://h/x) [v](javascript:0)"  # short enough to be quoted whole
    quoted = {b"{not json": [], b"\xff\xfe": [],  # not a configuration; not text at all: the name only
              json.dumps({NAME + " `": 1}).encode(): [NAME + " `"],  # a setting that does not exist
              json.dumps({"arch": {"batch_norm": value}, "train": {}}).encode(): [value]}
    for content, quotes in [*quoted.items(), (TINY.to_json().encode(), [])]:  # last: "Loaded ….json."
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        upload = next(u for u in at.file_uploader if u.label == "Load a configuration (JSON)")
        upload.set_value((NAME + ".json", content, "application/json")).run()
        [html] = shown(at)
        for text in [NAME + ".json", *quotes]:  # each as written
            assert escape(text, quote=False) in html, html
        assert "<img" not in html and "<a " not in html, html

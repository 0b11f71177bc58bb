"""The Predict page: picking a model, predictions on uploads (broken ones too) and on random test images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from conftest import APP, rendered
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.model import build_model
from nin_core.runs import models
from nin_core.runs.store import RunStore

pytestmark = pytest.mark.usefixtures("no_demo")  # whether or not the demo model is there


def finished_run(home: Path, name: str = "tiny") -> tuple[int, Path]:
    store = RunStore(home)
    run_id = store.create_run(TINY, name)
    torch.manual_seed(0)
    path = save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", build_model(TINY.arch), TINY, epoch=2)
    store.set_checkpoint(run_id, path)
    store.finish(run_id, "finished", final={"train_loss": 2.0, "train_acc": 0.3, "test_acc": 0.25})
    return run_id, path


def png() -> bytes:
    img = Image.new("L", (40, 56), 255)  # a dark item on white: the page inverts it
    ImageDraw.Draw(img).rectangle((10, 8, 30, 48), fill=30)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/predict.py").run()
    assert not at.exception, at.exception
    return at


def test_empty_store_says_no_model_yet(nin_home):
    at = open_page()
    assert any("No trained model is available yet" in i.value for i in at.info)
    assert [b.label for b in at.button] == ["Train the cpu preset"]
    assert not at.file_uploader


def test_no_model_offers_to_train_the_cpu_preset(nin_home, monkeypatch):
    from nin_core.network.config import CPU
    from nin_core.runs import jobs

    started = []
    monkeypatch.setattr(jobs, "ensure_worker", started.append)  # no real training process in this test
    at = open_page()
    before = len(started)  # the app also makes sure of a worker on every run
    at.button[0].click().run()
    assert not at.exception, at.exception
    (run,) = RunStore(nin_home).list_runs()
    assert run.status == "queued" and run.config == CPU and len(started) > before
    assert any(f"Run #{run.id} is queued" in s.value for s in at.success)
    at.run()
    assert not at.button and any("queued" in c.value for c in at.caption)


def test_demo_model_is_offered_with_its_accuracy(nin_home, tmp_path):
    _, path = finished_run(tmp_path / "elsewhere")
    demo = models.DEMO_CHECKPOINT
    demo.parent.mkdir(parents=True)
    demo.write_bytes(path.read_bytes())
    (demo.parent / "demo.json").write_text(json.dumps({"config": TINY.to_dict(), "test_acc": 0.9}))
    at = open_page()
    assert at.selectbox[0].options == ["Demo model (test acc 90.0%)"]
    assert at.file_uploader


def top_classes(at: AppTest) -> list[tuple[str, int]]:
    """The bars of the top classes: (the class's name, its percent as the bar is filled)."""
    return [(bar.proto.text.split(" · ")[0], bar.proto.value) for bar in at.get("progress")]


def test_uploads_predict_and_a_broken_one_gets_a_message(nin_home):
    run_id, _ = finished_run(nin_home)
    at = open_page()
    assert at.selectbox[0].value.startswith(f"#{run_id} tiny")
    at.file_uploader[0].set_value([("item.png", png(), "image/png"), ("x.png", b"not an image", "image/png")]).run()
    assert not at.exception, at.exception
    (warning,) = at.warning
    assert "x.png" in rendered(warning.value) and "not an image" in rendered(warning.value)
    assert any(rendered(m.value).startswith("item.png →") for m in at.markdown)
    assert top_classes(at) == sorted(top_classes(at), key=lambda bar: -bar[1])  # three, the most likely first
    assert len(top_classes(at)) == 3 and top_classes(at)[0][0] in at.markdown[0].value  # the one named
    assert len(at.image) == 2  # the model's view and the class map
    assert "(inverted)" in at.image[0].captions[0]
    # the manual override: don't invert
    at.get("button_group")[0].set_value("don't invert").run()
    assert not at.exception, at.exception
    assert "(inverted)" not in at.image[0].captions[0]


def test_random_test_images_show_their_true_labels(nin_home):
    finished_run(nin_home)
    at = open_page()
    next(b for b in at.button if b.label == "Draw random test images").click().run()
    assert not at.exception, at.exception
    verdicts = [m.value for m in at.markdown if "true: **" in m.value]
    assert len(verdicts) == 8
    assert len(at.get("progress")) == 8 * 3


def test_the_best_model_comes_chosen_and_one_deleted_is_said_to_be_gone(nin_home):
    good, _ = finished_run(nin_home, "good")
    RunStore(nin_home).finish(good, "finished", final={"test_acc": 0.81})
    bad, _ = finished_run(nin_home, "bad")  # newer, and worse (test acc 0.25)
    at = open_page()
    box = at.selectbox[0]
    assert box.options == [f"#{bad} bad (finished, test acc 25.0%)", f"#{good} good (finished, test acc 81.0%)"]
    assert box.value == f"#{good} good (finished, test acc 81.0%)"
    box.set_value(box.options[0]).run()  # picked by the person: kept even though it is worse
    at.run()
    assert at.selectbox[0].value.startswith(f"#{bad} bad") and not at.info
    RunStore(nin_home).delete_run(bad)  # from the Runs page or another tab
    at.run()
    assert not at.exception, at.exception
    assert any(f"**#{bad} bad (finished, test acc 25.0%)** is no longer there" in i.value.replace("\\", "")
               for i in at.info)  # Markdown escapes out
    assert at.selectbox[0].value.startswith(f"#{good} good")
    at.run()
    assert not at.info  # said once


def test_a_tiny_upload_says_its_answer_means_little(nin_home):
    finished_run(nin_home)
    at = open_page()
    dot = io.BytesIO()
    Image.new("L", (1, 1), 200).save(dot, "PNG")
    at.file_uploader[0].set_value([("dot.png", dot.getvalue(), "image/png")]).run()
    assert not at.exception, at.exception
    assert any("only 1×1 pixels" in c.value and "means little" in c.value for c in at.caption)

"""The Look inside page: a random test image or an upload through every layer of a finished run's model, the class
maps and what a fully connected head has instead, channels past the cap one click away."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import APP, rendered
from helpers import encode, finished_run, item, predict_page
from streamlit.testing.v1 import AppTest

from nin_core.lab.explorer import CHANNEL_CAP
from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import CPU, TINY, BlockConfig, RunConfig
from nin_core.network.model import build_model
from nin_core.network.shapes import shape_table

pytestmark = pytest.mark.usefixtures("no_demo")  # whether or not the demo model is there


def trained(home, tmp_path, config: RunConfig) -> None:
    torch.manual_seed(0)
    finished_run(home, save_checkpoint(tmp_path / "model.pt", build_model(config.arch), config, epoch=1),
                 config=config)


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/explore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def layer_headings(at: AppTest) -> list[str]:
    """The top-level layers' headings, ``**3 · MaxPool2d** — …``."""
    return [m.value for m in at.markdown if re.match(r"\*\*\d+ · ", m.value)]


# The cpu preset with a first block wider than the pictures' cap of channels.
WIDE = CPU.with_overrides(blocks=(BlockConfig(48, 5, 1, 2), *CPU.arch.blocks[1:]))


def test_a_random_test_image_through_every_layer(nin_home, tmp_path):
    assert WIDE.arch.blocks[0].out_channels > CHANNEL_CAP
    trained(nin_home, tmp_path, WIDE)
    at = open_page()
    pattern = r"A test image \(true: \*\*.+\*\*\) → \*\*.+\*\* \(\d+%\)"
    [verdict] = [m.value for m in at.markdown if re.match(pattern, m.value)]
    bars = [bar.proto for bar in at.get("progress")]  # the top three classes, the guess first
    assert len(bars) == 3 and verdict.split("→ **")[1].split("**")[0] == bars[0].text.split(" · ")[0]
    assert [bar.value for bar in bars] == sorted((bar.value for bar in bars), reverse=True)
    rows = shape_table(WIDE.arch).rows
    assert [h.split("**")[1] for h in layer_headings(at)] == [f"{r.index} · {r.layer}" for r in rows]
    model = build_model(WIDE.arch)
    drawn = 1 + sum(len(list(child.children())) or 1 for child in model.children())  # the input, then the leaves
    assert len(at.image) == 3 + 2 + drawn  # view, class map, saliency; the class maps, the filters; the layers
    assert any("global average pool" in c.value for c in at.caption)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("0.0 Conv2d(1, 48, kernel_size=(5, 5)") and "[1, 48, 28, 28]" in c for c in captions)

    more = [t for t in at.toggle if t.label == "All 48 channels"]
    assert more and all(t.label != f"All {CHANNEL_CAP} channels" for t in at.toggle)
    more[0].set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t for t in at.toggle if t.label == "All 48 channels"][0].value is True

    next(b for b in at.button if b.label == "Another random test image").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(layer_headings(at)) == len(rows)


def test_an_upload_and_a_broken_one(nin_home, tmp_path):
    trained(nin_home, tmp_path, TINY)
    at = open_page()
    at.button_group[0].set_value("Your own image").run()
    assert not at.exception and any("Upload a picture" in i.value for i in at.info)
    at.file_uploader[0].set_value(("dark-on-light.png", encode(item(fg=20, bg=240)), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(rendered(m.value).startswith("dark-on-light.png → ") for m in at.markdown)
    assert at.image[0].proto.imgs[0].caption == "as the model sees it (inverted)"
    assert len(layer_headings(at)) == len(shape_table(TINY.arch).rows)
    at.file_uploader[0].set_value(("notes.png", b"just some text", "image/png")).run()
    assert not at.exception
    assert "notes.png" in rendered(at.warning[0].value) and not layer_headings(at)


def test_a_fully_connected_head_says_it_has_no_class_maps(nin_home, tmp_path):
    config = TINY.with_overrides(head="fc")
    trained(nin_home, tmp_path, config)
    at = open_page()
    assert any("fully connected head" in i.value for i in at.info)
    assert not any("global average pool" in c.value for c in at.caption)
    last = shape_table(config.arch).rows[-1]
    assert last.layer == "Linear" and layer_headings(at)[-1].startswith(f"**{last.index} · Linear**")


def test_no_model_yet(nin_home):
    at = open_page()
    assert any("No trained model is available yet" in i.value for i in at.info)


def test_predict_links_here(nin_home, tmp_path):
    trained(nin_home, tmp_path, TINY)
    (link,) = predict_page().page_link
    assert link.proto.page == "explore" and "Look inside" in link.value  # the page at /explore


def test_the_model_chosen_on_predict_is_the_one_looked_inside(nin_home, tmp_path):
    for name in ("first", "second"):
        finished_run(nin_home, save_checkpoint(tmp_path / f"{name}.pt", build_model(TINY.arch), TINY, epoch=1), name)
    at = predict_page()
    older = at.selectbox[0].options[1]
    at.selectbox[0].set_value(older).run()
    at.switch_page("pages/explore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[0].value == older

"""The Shapes page: the shape table of the current configuration, its failures, and where the cost goes."""

from __future__ import annotations

import json

import pytest
from conftest import APP
from streamlit.testing.v1 import AppTest

SEED_SHAPES = ["[1, 96, 54, 54]", "[1, 96, 26, 26]", "[1, 256, 26, 26]", "[1, 256, 12, 12]", "[1, 384, 12, 12]",
               "[1, 384, 5, 5]", "[1, 384, 5, 5]", "[1, 10, 5, 5]", "[1, 10, 1, 1]", "[1, 10]"]


@pytest.fixture
def shapes(nin_home) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["preset"] = "seed"  # a link to the seed configuration, as a person would share it
    at.switch_page("pages/shapes.py").run()
    assert not at.exception, at.exception
    return at


def test_seed_configuration_shows_the_chapters_shapes(shapes):
    frame = shapes.dataframe[0].value
    assert list(frame["output shape"]) == SEED_SHAPES
    assert list(frame["layer"])[:2] == ["Sequential", "MaxPool2d"]
    assert shapes.number_input[0].value == 224
    assert not shapes.error
    assert "1,992,166" in [m.value for m in shapes.metric]
    assert any("67 px" in i.value for i in shapes.info)
    assert any("224" in c.value and "chapter" in c.value for c in shapes.caption)
    assert len(shapes.get("plotly_chart")) == 1


def test_too_small_input_shows_the_failing_layer(shapes):
    shapes.number_input[0].set_value(20).run()
    assert not shapes.exception
    frame = shapes.dataframe[0].value
    assert len(frame) == 4 and frame["output shape"].iloc[-1] == "—"
    assert "second max-pool" in frame["problem"].iloc[-1]
    (error,) = shapes.error
    assert "layer 3" in error.value and "smaller than its 3×3 window" in error.value
    assert not shapes.metric


def test_renders_with_an_empty_store_and_the_default_configuration(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/shapes.py").run()
    assert not at.exception, at.exception
    assert at.dataframe and at.get("plotly_chart")
    assert at.dataframe[0].value["output shape"].iloc[-1] == "[1, 10]"


@pytest.mark.parametrize(("params", "message"), [({"dropout": "2"}, "arch.dropout"),
                                                  ({"blocks": "96-11-0-0,10-3-1-1"}, "stride")])
def test_a_configuration_that_cannot_be_built_is_explained(nin_home, params, message):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["preset"] = "seed"
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("pages/shapes.py").run()
    assert not at.exception, at.exception
    assert any(message in e.value for e in at.error)


def test_memory_for_a_chosen_batch_and_precision(shapes):
    assert [(n.label, n.value) for n in shapes.number_input[1:]] == [("Batch size", 128)]
    assert shapes.selectbox[0].label == "Precision" and shapes.selectbox[0].value == "auto"
    assert "activation memory" in shapes.dataframe[0].value
    metrics = {m.label: m.value for m in shapes.metric}
    assert {"Training step", "Inference, one image", "Inference, 128 images"} <= set(metrics)
    shapes.number_input[1].set_value(8).run()
    shapes.selectbox[0].set_value("float32").run()
    assert not shapes.exception
    smaller = {m.label: m.value for m in shapes.metric}
    assert "Inference, 8 images" in smaller and smaller["Training step"] != metrics["Training step"]
    assert any("batch of 8 in float32" in c.value for c in shapes.caption)


def test_the_cost_chart_of_a_failing_table_says_it_is_partial(shapes):
    shapes.number_input[0].set_value(60).run()
    (chart,) = shapes.get("plotly_chart")
    assert json.loads(chart.proto.spec)["layout"]["title"]["text"].startswith("Partial: only layers 0–5")

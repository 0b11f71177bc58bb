"""Evaluating a checkpoint on the test set, the models offered for prediction, and the dashboard's figures."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from nin_core.network import charts
from nin_core.network.checkpoint import load_model, save_checkpoint
from nin_core.network.config import SEED, TINY
from nin_core.network.data import CLASS_NAMES, load_fashion_mnist
from nin_core.network.evaluation import Evaluation, evaluate, evaluate_checkpoint, gallery_images, subset_indices
from nin_core.network.model import build_model, predict_logits
from nin_core.network.shapes import shape_table
from nin_core.runs import charts as run_charts
from nin_core.runs.models import DEMO_CHECKPOINT, model_choices
from nin_core.runs.store import MetricPoint, RunStore

SIZE = 300


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    return save_checkpoint(path, build_model(TINY.arch), TINY, epoch=1, metrics={"test_acc": 0.1})


@pytest.fixture(scope="module")
def evaluation(checkpoint) -> Evaluation:
    return evaluate_checkpoint(checkpoint, SIZE, seed=3)


def test_confusion_matrix_counts_every_image(evaluation):
    assert evaluation.confusion.shape == (10, 10)
    assert evaluation.confusion.sum() == SIZE == evaluation.n
    assert len(evaluation.indices) == SIZE
    assert evaluation.meta["size"] == SIZE


def test_per_class_accuracy_agrees_with_the_matrix(evaluation):
    cm = evaluation.confusion
    counts = cm.sum(axis=1)
    for c in range(10):
        if counts[c]:
            assert evaluation.per_class_accuracy[c] == pytest.approx(cm[c, c] / counts[c])
        else:
            assert np.isnan(evaluation.per_class_accuracy[c])
    seen = counts > 0
    weighted = (evaluation.per_class_accuracy[seen] * counts[seen]).sum() / counts.sum()
    assert weighted == pytest.approx(evaluation.accuracy)
    assert len(evaluation.mistakes) == SIZE - np.trace(cm)



def test_a_model_trained_with_test_time_flips_is_evaluated_with_them(tmp_path):
    """The Runs page's confusion matrix counts what the run's test accuracy counted: the image and its mirror.
    On the demo model (the cpu preset, trained with flips, 28 px: the test images as they are)."""
    model, config, _ = load_model(DEMO_CHECKPOINT)
    assert config.train.tta and config.arch.resize == 28
    result = evaluate_checkpoint(DEMO_CHECKPOINT, SIZE, seed=3)
    data = load_fashion_mnist()
    chosen = torch.from_numpy(result.indices)
    with torch.inference_mode():
        logits = predict_logits(model, data.test_images[chosen][:, None].float() / 255, tta=True)
    assert result.accuracy == pytest.approx((logits.argmax(1) == data.test_labels[chosen]).float().mean().item())
    plain = save_checkpoint(tmp_path / "plain.pt", model, config.with_overrides(tta=False), epoch=1)
    assert not np.array_equal(evaluate_checkpoint(plain, SIZE, seed=3).confusion, result.confusion)


def test_mistakes_are_really_wrong(evaluation, checkpoint):
    data = load_fashion_mnist()
    assert evaluation.mistakes, "an untrained model gets some wrong"
    confidences = [m.confidence for m in evaluation.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    for m in evaluation.mistakes[:20]:
        assert m.true != m.predicted
        assert m.index in set(evaluation.indices.tolist())
        assert int(data.test_labels[m.index]) == m.true
        assert 0.0 < m.confidence <= 1.0
    # the model itself says so, image by image
    from nin_core.network.predict import Predictor
    predictor = Predictor.from_checkpoint(checkpoint)
    images = gallery_images([m.index for m in evaluation.mistakes[:5]])
    for m, img in zip(evaluation.mistakes[:5], images, strict=False):
        assert img.shape == (28, 28) and img.dtype == np.uint8
        p = predictor.predict(Image.fromarray(img), invert=False)
        assert p.predicted == m.predicted


def test_subset_is_seeded_and_distinct():
    a, b = subset_indices(100, 1), subset_indices(100, 1)
    assert (a == b).all() and len(set(a.tolist())) == 100
    assert len(subset_indices(None)) == 10_000


def test_evaluate_on_synthetic_data_is_exact():
    """A model that always answers class 2: every image of class 2 right, all others wrong."""

    class Always2(torch.nn.Module):
        def forward(self, x):
            logits = torch.zeros(len(x), 10)
            logits[:, 2] = 5.0
            return logits

    labels = torch.tensor([2, 2, 0, 5, 2, 9])
    ev = evaluate(Always2(), torch.zeros(6, 28, 28, dtype=torch.uint8), labels, resize=28, batch_size=4,
                  indices=[10, 11, 12, 13, 14, 15])
    assert ev.confusion[2, 2] == 3 and ev.confusion[:, 2].sum() == 6
    assert ev.per_class_accuracy[2] == 1.0 and ev.per_class_accuracy[0] == 0.0 and np.isnan(ev.per_class_accuracy[1])
    assert sorted(m.index for m in ev.mistakes) == [12, 13, 15]
    assert all(m.predicted == 2 for m in ev.mistakes)


def test_model_choices(tmp_path, checkpoint):
    store = RunStore(tmp_path / "home")
    done = store.create_run(TINY, "done")
    store.set_checkpoint(done, checkpoint)
    store.finish(done, "finished", final={"test_acc": 0.5})
    failed = store.create_run(TINY, "failed")
    store.set_checkpoint(failed, checkpoint)
    store.finish(failed, "failed")
    gone = store.create_run(TINY, "gone")
    store.set_checkpoint(gone, tmp_path / "missing.pt")
    store.finish(gone, "stopped")
    assert model_choices(store.list_runs(), demo=tmp_path / "no-demo.pt") == [
        model_choices(store.list_runs(), None)[0]]
    only = model_choices(store.list_runs(), None)[0]
    assert only.run_id == done and only.test_acc == 0.5 and "50.0%" in only.label

    demo = tmp_path / "demo" / "demo.pt"
    demo.parent.mkdir()
    demo.write_bytes(checkpoint.read_bytes())
    (demo.parent / "demo.json").write_text(json.dumps({"config": TINY.to_dict(), "test_acc": 0.875}))
    choices = model_choices(store.list_runs(), demo)
    assert [c.run_id for c in choices] == [done, None]
    assert choices[-1].test_acc == 0.875 and choices[-1].path == demo


# --- figures and tables ------------------------------------------------------------------------------------

def test_shape_frame_and_cost_figure():
    table = shape_table(SEED.arch, 224)
    frame = charts.shape_frame(table)
    assert list(frame["output shape"])[0] == "[1, 96, 54, 54]" and list(frame["output shape"])[-1] == "[1, 10]"
    assert "problem" not in frame
    fig = charts.shape_cost_figure(table)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert [t.name for t in fig.data] == ["parameters", "multiply-adds"]
    assert sum(fig.data[0].y) == pytest.approx(1.0) and len(fig.data[0].x) == 10
    assert sum(fig.data[0].customdata) == table.total_params


def test_failing_shape_table_is_painted_red():
    table = shape_table(SEED.arch, 20)
    frame = charts.shape_frame(table)
    assert frame["problem"].iloc[-1] == table.error and frame["output shape"].iloc[-1] == "—"
    html = charts.shape_styler(table).to_html()
    assert html.count("#FFD8D8") >= 1
    styles = charts.shape_styler(table)._compute().ctx
    painted_rows = {row for (row, _col), props in styles.items() if props}
    assert painted_rows == {len(frame) - 1}


def test_runs_table_and_hyperparameters_against_accuracy(tmp_path):
    store = RunStore(tmp_path / "home")
    a = store.create_run(TINY, "a")
    store.finish(a, "finished", final={"test_acc": 0.7, "train_loss": 0.5})
    b = store.create_run(TINY.with_overrides(lr=0.01, optimizer="sgd"), "b")
    store.finish(b, "finished", final={"test_acc": 0.6})
    store.create_run(TINY, "queued")
    runs = store.list_runs()
    frame = run_charts.runs_frame(runs)
    assert list(frame["name"]) == ["queued", "b", "a"]
    assert frame["test acc"].iloc[2] == 0.7 and np.isnan(frame["test acc"].iloc[0])
    hp = run_charts.hyperparameter_frame(runs)
    assert sorted(hp["name"]) == ["a", "b"]
    fig = run_charts.hyperparameter_figure(runs)
    # a panel per setting that differs (the rest are the same in both), drawn as SVG (no WebGL: see its docstring)
    assert [a.text for a in fig.layout.annotations] == ["lr", "optimizer"]
    lr, optimizer = fig.data
    assert {lr.type, optimizer.type} == {"scatter"} and fig.layout.xaxis.type == "log"
    assert sorted(zip(lr.x, lr.y, strict=True)) == [(pytest.approx(0.003), 0.7), (pytest.approx(0.01), 0.6)]
    assert sorted(zip(optimizer.x, optimizer.y, strict=True)) == [("adamw", 0.7), ("sgd", 0.6)]
    # curves of several runs overlaid: three traces per run
    curves = charts.curves_figure({"a": [MetricPoint(1, 0.5, 0.8, 0.7)], "b": [MetricPoint(1, 0.6, 0.7, 0.6)]})
    assert len(curves.data) == 6


def test_a_missing_metric_shows_as_a_dash_not_none(tmp_path):
    store = RunStore(tmp_path / "home")
    store.finish(store.create_run(TINY, "failed"), "failed", message="out of memory")
    done = store.create_run(TINY, "done")
    store.finish(done, "finished", final={"test_acc": 0.7312, "train_loss": 0.5, "train_acc": 0.8,
                                          "examples_per_sec": 1234.5})
    html = run_charts.runs_styler(store.list_runs()).to_html()
    assert "73.1%" in html and "1,234" in html and "0.500" in html
    assert "—" in html and "None" not in html and "nan" not in html


def test_one_run_that_blew_up_does_not_squash_the_others():
    calm = [MetricPoint(e / 2, 2.3 - e / 4, 0.1 + e / 10) for e in range(7)]
    wild = [MetricPoint(0.5, 2.3, 0.1), MetricPoint(1.0, 27.0, 0.1)]
    fig = charts.curves_figure({"#1 calm": calm, "#2 wild": wild})
    assert fig.layout.yaxis.range == (0, pytest.approx(2.5 * 1.05))
    assert fig.layout.title.text == "Loss above 2.6 not shown: #2 wild"
    # losses within reach (an early spike to 4) widen the axis instead, and nothing is cut
    fig = charts.curves_figure({"#1 calm": calm, "#3 spiky": [MetricPoint(0.2, 4.0, 0.1), MetricPoint(1, 1.0, 0.6)]})
    assert fig.layout.yaxis.range == (0, pytest.approx(4.2)) and fig.layout.title.text is None


def test_confusion_and_per_class_figures(evaluation):
    fig = charts.confusion_figure(evaluation.confusion, evaluation.class_names)
    (heat,) = fig.data
    assert heat.type == "heatmap" and list(heat.x) == list(CLASS_NAMES)
    assert np.asarray(heat.z).sum() == SIZE
    fig = charts.per_class_figure(evaluation.per_class_accuracy, evaluation.class_names)
    (bar,) = fig.data
    assert bar.type == "bar" and len(bar.y) == 10


def test_image_helpers():
    img = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    big = charts.enlarge(img, 112)
    assert big.size == (112, 112) and np.asarray(big)[0, 3] == img[0, 0]
    data = charts.png_bytes(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import io
    assert (np.asarray(Image.open(io.BytesIO(data))) == img).all()
    assert isinstance(charts.curves_figure({}), go.Figure)

"""Looking inside a model on one image: every layer's output as the shape table lists them, class maps that pool to
the logits, a saliency map that is the gradient, dead channels, and ``python -m nin_core inspect``."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import encode, item, noise
from torch import nn

from nin_core.cli import main
from nin_core.lab.explorer import CHANNEL_CAP, explore, layer_picture
from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import CPU, TINY, RunConfig
from nin_core.network.model import build_model
from nin_core.network.predict import Predictor
from nin_core.network.shapes import shape_table

VARIANTS = {
    "chapter": TINY.arch,
    "batch norm, one 3×3 pointwise conv": TINY.with_overrides(batch_norm=True, pointwise_convs=1,
                                                              pointwise_kernel=3).arch,
    "fc head, no last ReLU": TINY.with_overrides(head="fc", final_relu=False).arch,
}


def model_and_input(arch=TINY.arch, image=None):
    torch.manual_seed(0)
    model = build_model(arch)
    x, _, _ = Predictor(model, RunConfig(arch=arch)).model_input(image or item())  # puts the model in eval mode
    return model, x


@pytest.mark.parametrize("arch", VARIANTS.values(), ids=VARIANTS.keys())
def test_top_level_outputs_are_the_shape_tables_rows(arch):
    model, x = model_and_input(arch)
    result = explore(model, x)
    table = shape_table(arch)
    assert table.ok
    assert [(o.index, o.kind, o.shape) for o in result.top_level] == [
        (r.index, r.layer, r.output_shape) for r in table.rows]
    assert result.layers[0].name == "input" and result.layers[0].shape == tuple(x.shape)
    inner = [o.kind for o in result.layers if o.index == 0 and not o.top_level]
    assert inner == [type(m).__name__ for m in model[0]]  # a block's own layers, in order
    assert ("BatchNorm2d" in inner) == arch.batch_norm
    assert torch.allclose(result.logits, model(x)[0].detach(), atol=1e-5)


def test_each_class_map_pools_to_its_logit():
    model, x = model_and_input()
    result = explore(model, x)
    assert result.class_maps.shape[0] == TINY.arch.num_classes
    assert torch.allclose(result.pooled, result.logits, atol=1e-6)
    assert torch.allclose(result.class_maps.mean(dim=(1, 2)), result.logits, atol=1e-6)


def test_a_fully_connected_head_has_no_class_maps():
    model, x = model_and_input(VARIANTS["fc head, no last ReLU"])
    result = explore(model, x)
    assert result.class_maps is None and result.pooled is None
    assert result.top_level[-1].kind == "Linear" and result.top_level[-1].shape == (1, 10)


def test_saliency_is_the_predicted_logits_gradient_at_the_inputs_size():
    model, x = model_and_input(image=noise((28, 28)))  # no flat areas: no ties in a max-pool's window
    model, x = model.double(), x.double()
    result = explore(model, x)
    assert result.saliency.shape == x.shape[2:] and (result.saliency >= 0).all() and result.saliency.max() > 0
    # the most salient pixel, nudged: the predicted logit moves by the saliency times the nudge
    row, col = divmod(int(result.saliency.argmax()), x.shape[3])
    eps = 1e-6
    nudged = x.clone()
    nudged[0, :, row, col] += eps
    with torch.no_grad():
        change = (model(nudged)[0, result.predicted] - model(x)[0, result.predicted]).abs().item() / eps
    assert change == pytest.approx(float(result.saliency[row, col]), rel=1e-3)


def test_a_dead_channel_is_reported():
    model, x = model_and_input()
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        conv.weight[3] = 0
        conv.bias[3] = 0
    by_name = {o.name: o for o in explore(model, x).layers}
    assert 3 in by_name["0.0"].dead and 3 in by_name["0.1"].dead  # the conv's output and its ReLU's
    assert by_name["0.1"].activation[3].abs().max() == 0
    assert "all zero" in by_name["0.1"].caption()
    live = [c for c in range(by_name["0.0"].activation.shape[0]) if by_name["0.0"].activation[c].any()]
    assert not set(live) & set(by_name["0.0"].dead)


def test_the_model_is_left_as_it_was():
    model, x = model_and_input()
    explore(model.train(), x)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_pictures_draw_at_most_the_cap_unless_all_are_asked_for():
    model, x = model_and_input(CPU.arch)  # 32 to 128 channels at 28 px: more than the cap after the first block
    layer = next(o for o in explore(model, x).drawn if o.activation.shape[0] > CHANNEL_CAP)
    capped, everything = layer_picture(layer), layer_picture(layer, limit=None)
    assert capped.width == everything.width and capped.height < everything.height
    assert layer.order()[0] == int(layer.activation.flatten(1).mean(dim=1).argmax())  # the most active first


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", build_model(TINY.arch), TINY, epoch=1)


def test_inspect_writes_the_pictures_and_a_summary(checkpoint, tmp_path, capsys):
    image, out = tmp_path / "shirt.png", tmp_path / "inside"
    image.write_bytes(encode(item(fg=20, bg=240)))
    assert main(["inspect", str(image), "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inverted"] is True and summary["predicted"] in summary["probabilities"]
    assert {"view.png", "class_map.png", "saliency.png", "class_maps.png", "filters.png"} <= set(summary["pictures"])
    assert all((out / name).is_file() for name in summary["pictures"])
    layers = {layer["name"]: layer for layer in summary["layers"]}
    rows = shape_table(TINY.arch).rows
    assert [layers[str(r.index)]["shape"] for r in rows] == [list(r.output_shape) for r in rows]
    assert all(set(layer) >= {"name", "shape", "min", "max", "mean", "zeros", "dead_channels"}
               for layer in summary["layers"])
    assert all((out / layer["picture"]).is_file() for layer in summary["layers"])
    assert str(out) in capsys.readouterr().out


def test_inspect_refuses_a_bad_image_or_checkpoint_with_one_line(checkpoint, tmp_path, capsys):
    image, text = tmp_path / "shirt.png", tmp_path / "notes.png"
    image.write_bytes(encode(item()))
    text.write_bytes(b"just some text\n")
    for args, words in (([str(text), "--checkpoint", str(checkpoint)], "not an image"),
                        ([str(image), "--checkpoint", str(image)], "not a NiN checkpoint")):
        assert main(["inspect", *args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()

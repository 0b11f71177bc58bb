"""The settings beyond the chapter: batch norm, 1×1 convolutions, the head, the last ReLU, schedules, label smoothing,
Nesterov, augmentation, test-time flips, a validation split; and checkpoints written before they existed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from nin_core.network import data as data_module
from nin_core.network import train as train_module
from nin_core.network.checkpoint import load_model
from nin_core.network.config import CPU, SEED, TINY, TrainConfig
from nin_core.network.data import flip_shift, shift_pixels
from nin_core.network.model import build_model
from nin_core.network.predict import Predictor
from nin_core.network.schedule import lr_at
from nin_core.network.shapes import shape_table
from nin_core.network.train import Trainer

OLD_CHECKPOINT = Path(__file__).parent / "data" / "checkpoint-before-settings.pt"


# --- the network ---------------------------------------------------------------------------------------------

def test_fc_head_shapes_and_parameters_by_hand():
    # The cpu network at 28 px: the last block keeps 10 channels of 2×2, flattened to 40, then 40×10 + 10.
    table = shape_table(CPU.arch.__class__(**{**CPU.arch.__dict__, "head": "fc"}))
    assert [r.layer for r in table.rows[-2:]] == ["Flatten", "Linear"]
    assert table.rows[-2].output_shape == (1, 40) and table.rows[-1].output_shape == (1, 10)
    assert table.rows[-1].params == 40 * 10 + 10
    gap = shape_table(CPU.arch)
    assert table.total_params == gap.total_params + 410


def test_fc_head_at_another_size_says_what_it_was_built_for():
    arch = CPU.with_overrides(head="fc").arch
    table = shape_table(arch, 32)
    assert not table.ok and "built for 28 px" in table.error


def test_pointwise_kernel_3_keeps_the_size_and_counts_by_hand():
    arch = SEED.with_overrides(pointwise_kernel=3).arch
    table = shape_table(arch)
    assert table.output_shape == (1, 10)
    block1 = table.rows[0]
    assert block1.output_shape == (1, 96, 54, 54)  # padding 1 keeps 54×54
    # 11×11 conv (1→96) and two 3×3 convs (96→96), each with a bias
    assert block1.params == (11 * 11 * 1 * 96 + 96) + 2 * (3 * 3 * 96 * 96 + 96)


@pytest.mark.parametrize("convs", [0, 1, 3])
def test_pointwise_convs_set_the_block(convs):
    model = build_model(SEED.with_overrides(pointwise_convs=convs).arch)
    assert sum(isinstance(m, nn.Conv2d) for m in model[0]) == 1 + convs
    assert model(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


def test_batch_norm_after_every_convolution_before_its_relu():
    block = build_model(SEED.with_overrides(batch_norm=True).arch)[0]
    assert [type(m).__name__ for m in block] == ["Conv2d", "BatchNorm2d", "ReLU"] * 3
    table = shape_table(SEED.with_overrides(batch_norm=True).arch)
    assert table.total_params == shape_table(SEED.arch).total_params + 2 * 3 * (96 + 256 + 384 + 10)


def test_without_the_final_relu_the_class_maps_can_be_negative():
    model = build_model(TINY.with_overrides(final_relu=False).arch).eval()
    last = model[-3]
    assert not isinstance(last[-1], nn.ReLU)
    logits = model(torch.rand(4, 1, 28, 28))
    assert (logits < 0).any()


def test_a_checkpoint_written_before_these_settings_loads_with_the_chapters_values():
    model, config, meta = load_model(OLD_CHECKPOINT)
    assert not config.arch.batch_norm and config.arch.head == "gap" and config.train.schedule == "constant"
    assert meta["epoch"] == 1
    assert Predictor(model, config).predict_files([("x", b"not an image")])[0].error  # and it predicts
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


# --- training ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule, points", [
    ("constant", {0: 0.2, 50: 0.2, 99: 0.2}),
    ("onecycle", {0: 0.2 / 25, 30: 0.2, 99: None}),  # rises over 30 %, then falls towards 0.2 / 10,000
    ("cosine", {0: 0.2, 50: 0.1, 100: 0.0}),
    ("step", {0: 0.2, 49: 0.2, 50: 0.02, 75: 0.002}),
])
def test_each_schedule_follows_its_curve(schedule, points):
    t = TrainConfig(lr=0.2, epochs=10, schedule=schedule)
    for step, expected in points.items():
        got = lr_at(t, step, steps_per_epoch=10)
        if expected is None:
            assert got < 0.2 / 100
        else:
            assert got == pytest.approx(expected, abs=1e-9), (step, got)
    rates = [lr_at(t, s, 10) for s in range(100)]
    if schedule == "cosine":
        assert rates == sorted(rates, reverse=True)


def test_warmup_rises_linearly_from_a_tenth():
    t = TrainConfig(lr=1.0, epochs=10, warmup_epochs=2, schedule="cosine")
    assert lr_at(t, 0, 10) == pytest.approx(0.1)
    assert lr_at(t, 10, 10) == pytest.approx(0.55)
    assert lr_at(t, 20, 10) == pytest.approx(1.0)


def test_flip_shift_keeps_each_image_and_its_statistics():
    images = torch.rand(512, 1, 28, 28)
    out = flip_shift(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and shift_pixels(28) == 2 and shift_pixels(224) == 16
    # A shift of at most 2 px keeps the inner 24×24 of each image somewhere in the output: means barely move.
    assert out.mean().item() == pytest.approx(images.mean().item(), rel=0.1)
    # Nothing new: every output pixel is an input pixel of the same image or the zero border.
    for i in range(8):
        values = set(images[i].flatten().tolist()) | {0.0}
        assert set(out[i].flatten().tolist()) <= values
    assert not torch.equal(out, images)


@pytest.mark.slow
def test_augmentation_touches_the_training_batches_only(data, monkeypatch):
    seen = []

    def spy(x, generator):
        seen.append(x.shape[0])
        return flip_shift(x, generator)

    monkeypatch.setattr(data_module, "flip_shift", spy)
    config = TINY.with_overrides(augment="flip-shift", train_size=640, test_size=300, epochs=1, device="cpu")
    Trainer(config, data=data).run()
    assert seen == [64] * 10  # ten training batches, no evaluation batch of 300


def test_validation_split_holds_out_the_last_training_images(data):
    config = TINY.with_overrides(validation_size=5000, train_size=None, test_size=None, epochs=1, device="cpu",
                                 batch_size=256)
    trainer = Trainer(config, data=data)
    trainer._setup()
    assert trainer.train_iter.num_examples == 55_000 and trainer.test_iter.num_examples == 5000
    assert torch.equal(trainer.test_iter.labels.cpu(), data.train_labels[-5000:].long())


def test_tta_averages_the_image_and_its_mirror():
    model = build_model(TINY.arch).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        both = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
        assert torch.allclose(train_module.predict_logits(model, x, tta=True).exp(), both, atol=1e-6)


@pytest.mark.slow
def test_batch_norm_trains_and_beats_no_batch_norm(data, fixed_threads):
    """The chapter's plain SGD at lr 0.1 on the same images and seed: without batch norm NiN sits near chance for
    its first hundreds of steps, with it it learns at once."""
    base = CPU.with_overrides(optimizer="sgd", lr=0.1, momentum=0.0, nesterov=False, schedule="constant",
                              label_smoothing=0.0, augment="none", tta=False, weight_decay=0.0, epochs=1,
                              train_size=3000, test_size=1000, batch_size=64, device="cpu", precision="float32",
                              batch_norm=False)
    plain = Trainer(base, data=data).run()
    normed = Trainer(base.with_overrides(batch_norm=True), data=data).run()
    assert normed.status == "finished"
    assert normed.test_acc > plain.test_acc + 0.2 and normed.test_acc > 0.5, (plain.test_acc, normed.test_acc)
    assert math.isfinite(normed.train_loss)


@pytest.mark.slow
def test_without_the_last_relu_a_run_at_chance_for_its_first_epoch_is_a_stall(data):
    config = TINY.with_overrides(final_relu=False, optimizer="sgd", lr=1e-6, epochs=3, train_size=512,
                                 test_size=128, device="cpu")
    result = Trainer(config, data=data).run()
    assert result.status == "stalled" and "after its first epoch" in result.message
    assert "batch norm" in result.hint and len(result.history) == 1

"""The trainer: d2l's train_ch6 semantics on real Fashion-MNIST subsets, stopping, checkpoints, and the two ways a
NiN run goes wrong (diverged, stalled)."""

from __future__ import annotations

import math

import pytest
import torch

from nin_core.network import train as train_module
from nin_core.network.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.model import build_model
from nin_core.network.train import Trainer, closing_lines, stalled_hint

SMALL = TINY.with_overrides(train_size=1024, test_size=256, epochs=2, device="cpu")


@pytest.mark.slow
def test_training_lowers_the_loss_and_reports_like_train_ch6(data, fixed_threads):
    # Three epochs of tiny end in its climb out of chance, where a thread count the tuner changes under load moves
    # the result as much as another seed would.
    seen = []
    result = Trainer(TINY.with_overrides(epochs=3, device="cpu"), data=data,
                     on_progress=lambda p, points: seen.append((p.phase, p.epoch, p.batch, p.fraction, points))).run()
    assert result.status == "finished"
    losses = [h.train_loss for h in result.history]
    assert losses[-1] < losses[0] < math.log(10) + 0.05
    assert result.test_acc > 0.4 and 0 <= result.train_acc <= 1
    assert result.examples_per_sec > 0
    lines = closing_lines(result.final(), result.device).splitlines()
    assert lines[0].startswith("loss ") and ", train acc " in lines[0] and ", test acc " in lines[0]
    assert lines[1].endswith("examples/sec on cpu")
    points = [p for *_, pts in seen for p in pts]
    # train points where d2l's animator draws them (every num_batches // 5 batches and the last), test at epoch ends
    n = math.ceil(4000 / 64)
    per_epoch = len([i for i in range(1, n + 1) if i % (n // 5) == 0 or i == n])
    assert len([p for p in points if p.train_loss is not None]) == 3 * per_epoch
    assert [p.epoch for p in points if p.test_acc is not None] == [1.0, 2.0, 3.0]
    fractions = [f for _, _, _, f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


@pytest.mark.slow
def test_same_seed_same_numbers_on_the_cpu(data):
    a = Trainer(SMALL, data=data).run()
    b = Trainer(SMALL, data=data).run()
    assert [(h.train_loss, h.train_acc, h.test_acc) for h in a.history] == \
           [(h.train_loss, h.train_acc, h.test_acc) for h in b.history]
    c = Trainer(SMALL.with_overrides(seed=1), data=data).run()
    assert c.history[0].train_loss != a.history[0].train_loss


@pytest.mark.slow
def test_stop_finishes_the_batch_saves_and_says_stopped(data, tmp_path):
    polls = []
    path = tmp_path / "ckpt.pt"
    trainer = Trainer(SMALL.with_overrides(epochs=5), data=data, checkpoint_path=path,
                      should_stop=lambda: polls.append(1) or len(polls) >= 3)
    result = trainer.run()
    assert result.status == "stopped" and "stopped in epoch" in result.message
    assert result.train_loss is not None
    model, config, meta = load_model(path)
    assert config == trainer.config and meta["epoch"] < 5
    for key, value in model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[key].cpu())


@pytest.mark.slow
def test_a_diverging_learning_rate_stops_as_diverged_with_a_hint(data):
    result = Trainer(SMALL.with_overrides(optimizer="sgd", lr=50.0, epochs=3), data=data).run()
    assert result.status == "diverged"
    assert "NaN or infinite" in result.hint and "learning rate" in result.hint


def test_the_slow_start_hint_fits_the_optimizer():
    assert "AdamW with lr 0.001" in train_module.slow_start_hint(TINY.with_overrides(optimizer="sgd"))
    adamw = train_module.slow_start_hint(TINY)  # AdamW already: not "try AdamW"
    assert "adamw did not get NiN off chance level" in adamw and "try AdamW" not in adamw


@pytest.mark.slow
def test_dead_class_maps_stop_the_run_early_as_stalled(data, dead_class_maps):
    """Every class map zero: the network NiN becomes when its last ReLU dies. Built by a bias
    that no input overcomes; the trainer must notice within a few batches, not after the epochs."""
    result = Trainer(SMALL.with_overrides(epochs=10, train_size=4000), data=data).run()
    assert result.status == "stalled"
    assert "epoch 1" in result.message and result.hint == stalled_hint(SMALL.arch.num_classes)
    assert "ln 10 = 2.303" in result.hint and "learning rate" in result.hint
    assert result.train_loss == pytest.approx(math.log(10), abs=1e-4)


def test_checkpoint_to_a_full_disk_is_reported(tmp_path):
    import os
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    model = build_model(TINY.arch)
    with pytest.raises(CheckpointError, match="could not save the checkpoint"):
        save_checkpoint("/dev/full/ckpt.pt", model, TINY, epoch=1)


def test_checkpoints_are_never_unpickled(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "nin-checkpoint/1", "model": Payload()}, evil)
    with pytest.raises(CheckpointError, match="not a NiN checkpoint that loads safely"):
        load_checkpoint(evil)


def test_a_checkpoint_of_another_architecture_gets_a_clear_message(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", build_model(TINY.arch), TINY, epoch=1)
    payload = torch.load(path, weights_only=True)
    payload["config"]["arch"]["blocks"][0]["out_channels"] = 24
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not match its architecture"):
        load_model(path)

"""A run's status and progress as types that survive the run store, and the one chance-level test as the trainer
uses it for any number of classes."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from nin_core.network.config import TINY, BlockConfig
from nin_core.network.data import FashionMNIST
from nin_core.network.metrics import CHANCE_ACC_MARGIN, CHANCE_LOSS_MARGIN, Phase, Progress, at_chance, chance_loss
from nin_core.network.status import ACTIVE, RunStatus
from nin_core.network.train import Trainer, slow_start_hint, stalled_hint
from nin_core.runs.store import RunStore

# --- progress ---------------------------------------------------------------------------------------------------

MID_RUN = Progress(Phase.TRAINING, "cpu (2 threads)", 2, 3, 50, 200, 1.25, 0.55, 0.5, 5123.4, 10.0, 14.0, 0.003)


def test_progress_round_trips_through_the_store(nin_home):
    store = RunStore()
    run_id = store.create_run(TINY)
    store.mark_running(run_id, "cpu")
    store.record(run_id, MID_RUN)
    run = store.get_run(run_id)
    assert run.progress == MID_RUN and run.progress.phase is Phase.TRAINING
    assert run.progress.fraction == pytest.approx((1 + 50 / 200) / 3)
    ended = Progress.from_dict(MID_RUN.to_dict() | {"phase": "stopped"})  # a run's last progress names its end
    assert ended.phase is RunStatus.STOPPED


def test_a_run_that_reported_nothing_has_the_empty_progress(nin_home):
    run = RunStore().get_run(RunStore().create_run(TINY))
    assert run.progress == Progress() and not run.progress.reported and run.progress.fraction == 0.0
    assert MID_RUN.reported


def test_progress_rows_written_before_still_load(nin_home):
    """A row as older versions wrote it: a ``fraction`` stored beside the fields, and fields added since missing."""
    store = RunStore()
    run_id = store.create_run(TINY)
    old = {"phase": "evaluating", "device": "cpu", "epoch": 1, "epochs": 2, "batch": 10, "batches": 10,
           "train_loss": 2.0, "train_acc": 0.3, "test_acc": None, "examples_per_sec": 900.0, "fraction": 0.5}
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET progress = ? WHERE id = ?", (json.dumps(old), run_id))
    progress = store.get_run(run_id).progress
    assert (progress.phase, progress.epoch, progress.batch, progress.train_loss) == (Phase.EVALUATING, 1, 10, 2.0)
    assert progress.lr is None and progress.eta_s is None and progress.fraction == 0.5


# --- statuses ---------------------------------------------------------------------------------------------------

def test_a_stored_status_reads_back_as_a_run_status(nin_home):
    store = RunStore()
    run_id = store.create_run(TINY)
    assert store.get_run(run_id).status is RunStatus.QUEUED and store.get_run(run_id).active
    store.finish(run_id, RunStatus.DIVERGED, message="the loss became nan")
    run = store.list_runs()[0]
    assert run.status is RunStatus.DIVERGED and run.status == "diverged" and not run.active


@pytest.mark.parametrize("status", [*sorted(ACTIVE), "done"])
def test_only_a_final_status_ends_a_run(nin_home, status):
    store = RunStore()
    run_id = store.create_run(TINY)
    with pytest.raises(ValueError, match="is not a final status"):
        store.finish(run_id, status)
    assert store.get_run(run_id).status is RunStatus.QUEUED


# --- chance level -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("classes", "loss", "accuracy"), [(2, 0.693, 0.5), (10, 2.303, 0.1)])
def test_chance_level_follows_the_number_of_classes(classes, loss, accuracy):
    assert chance_loss(classes) == pytest.approx(loss, abs=5e-4)
    assert at_chance(loss, accuracy, classes)
    other = 12 - classes  # 10 for 2 and 2 for 10: the other configuration's chance level is far from this one
    assert not at_chance(chance_loss(other), 1 / other, classes)
    assert f"ln {classes} = {loss:.3f}" in stalled_hint(classes) and f"chance ({accuracy:.3f})" in stalled_hint(classes)
    sgd = TINY.with_overrides(optimizer="sgd", num_classes=classes, head="fc")
    assert f"near loss {loss:.3f}" in slow_start_hint(sgd)


@pytest.mark.parametrize("classes", [2, 10])
def test_at_chance_edges(classes):
    loss, accuracy = chance_loss(classes), 1 / classes
    assert at_chance(loss - CHANCE_LOSS_MARGIN * 0.99, accuracy, classes)
    assert at_chance(loss + CHANCE_LOSS_MARGIN * 0.99, accuracy, classes)
    assert not at_chance(loss + CHANCE_LOSS_MARGIN * 1.01, accuracy, classes)
    assert not at_chance(loss - CHANCE_LOSS_MARGIN * 1.01, accuracy, classes)
    assert at_chance(loss, accuracy + CHANCE_ACC_MARGIN * 0.99, classes)  # the most frequent class, a bit above 1/C
    assert not at_chance(loss, accuracy + CHANCE_ACC_MARGIN, classes)
    assert at_chance(loss, 0.0, classes)  # below chance is no better
    assert not at_chance(None, accuracy, classes) and not at_chance(loss, None, classes)  # nothing measured yet


@pytest.mark.slow
@pytest.mark.parametrize("classes", [2, 10])
def test_dead_class_maps_stall_at_the_chance_level_of_their_classes(data, dead_class_maps, classes):
    """Every class map zero (the last block's bias beyond any input), on labels folded into ``classes``: the
    trainer stops the run as stalled and says the chance level of that many classes."""
    folded = FashionMNIST(data.root, data.train_images, data.train_labels % classes, data.test_images,
                          data.test_labels % classes)
    blocks = (*TINY.arch.blocks[:-1], BlockConfig(classes, 3, 1, 1))
    config = TINY.with_overrides(num_classes=classes, blocks=blocks, train_size=1024, test_size=256, epochs=3,
                                 device="cpu")
    result = Trainer(config, data=folded).run()
    assert result.status is RunStatus.STALLED and "epoch 1" in result.message
    assert f"(loss {chance_loss(classes):.3f}, accuracy {1 / classes:.3f})" in result.message
    assert result.train_loss == pytest.approx(math.log(classes), abs=1e-4)
    assert result.hint == stalled_hint(classes)

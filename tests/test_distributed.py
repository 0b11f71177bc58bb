"""Training across processes with torchrun: two gloo processes on this CPU train as one process would."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from nin_core.network.checkpoint import load_model
from nin_core.network.config import TINY
from nin_core.network.data import Batches
from nin_core.runs.store import RunStore

# Dropout off: with it, each process draws its own masks and the runs differ by more than rounding. SGD with
# momentum, not tiny's AdamW: Adam's first steps move each weight by about ±lr whatever its gradient's size, so a
# gradient near zero whose sign the order of the sums flips moves that weight the other way, and two runs that
# differ only in rounding part by 0.03 in loss after two epochs. SGD's steps are linear in the gradient.
CONFIG = TINY.with_overrides(dropout=0.0, epochs=2, train_size=2048, test_size=512, device="cpu", precision="float32",
                             optimizer="sgd", lr=0.05, momentum=0.9)


def test_the_processes_parts_make_up_each_global_batch():
    images = torch.arange(10 * 28 * 28, dtype=torch.int64).reshape(10, 28, 28).to(torch.uint8)
    labels = torch.arange(10)
    whole = [y.tolist() for _, y in Batches(images, labels, 4, resize=28, shuffle=True,
                                            generator=torch.Generator().manual_seed(3))]
    parts = [[y.tolist() for _, y in Batches(images, labels, 4, resize=28, shuffle=True, shard=(rank, 2),
                                             generator=torch.Generator().manual_seed(3))] for rank in (0, 1)]
    assert [a + b for a, b in zip(*parts, strict=True)] == whole
    # 9 images in batches of 4 over 3 processes: the last batch (1 image) cannot be shared, so it is left out
    assert Batches(images[:9], labels[:9], 4, resize=28, shard=(0, 3)).num_examples == 8


def train(args: list[str], home, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"NIN_HOME": str(home), "OMP_NUM_THREADS": "1"} | (extra_env or {})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def log_dir(tmp_path) -> list[str]:
    """torchrun's own log folder in the test's: by default it makes one more in /tmp at each launch."""
    return [f"--log-dir={tmp_path / 'torchrun'}"]


@pytest.mark.slow
def test_two_gloo_processes_train_like_one(tmp_path, nin_home):
    config = tmp_path / "config.json"
    config.write_text(CONFIG.to_json())
    ddp = train(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *log_dir(tmp_path),
                 "-m", "nin_core", "train",
                 "--config", str(config), "--name", "ddp", "--quiet"], nin_home)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    single_home = tmp_path / "single"
    single = train(["-m", "nin_core", "train", "--config", str(config), "--name", "single", "--quiet"], single_home)
    assert single.returncode == 0, single.stderr[-2000:]

    [run] = RunStore(nin_home).list_runs()  # recorded once, by rank 0
    assert (run.name, run.status, run.device) == ("ddp", "finished", "cpu × 2")
    [alone] = RunStore(single_home).list_runs()
    # The metrics cover the whole data set: the global batches (32 of 64), with d2l's points at the same places.
    assert run.progress.batches == math.ceil(2048 / 64)
    assert [p.epoch for p in RunStore(nin_home).metrics(run.id)] == \
           [p.epoch for p in RunStore(single_home).metrics(alone.id)]
    # Same global batch and seed: the same run as one process, up to the order of floating-point sums.
    assert run.final["train_loss"] == pytest.approx(alone.final["train_loss"], abs=0.02)
    assert run.final["train_acc"] == pytest.approx(alone.final["train_acc"], abs=0.03)
    assert run.final["test_acc"] == pytest.approx(alone.final["test_acc"], abs=0.03)
    model, saved, meta = load_model(run.checkpoint)
    assert saved == CONFIG and meta["epoch"] == 2
    single_model, _, _ = load_model(alone.checkpoint)
    # Rounding apart, the same weights: each tensor within a hundredth of its spread of the single process's (the
    # gap seen: at most 0.4 %, varying with the host's kernels; the same single run with a step 20 % larger ends
    # 15 % of a spread away).
    for (name, w), w_alone in zip(model.state_dict().items(), single_model.state_dict().values(), strict=True):
        assert float((w - w_alone).abs().max()) <= 0.01 * float(w_alone.std()), name


RANK_SCRIPT = """
import os, torch
from torch import nn
from nin_core.network.distributed import from_environment, shutdown
dist = from_environment("cpu")
net = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
net(torch.randn(3, 4)).sum().backward()
del net
dist.barrier()
shutdown()
threads = sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
# A file per rank: two ranks printing to torchrun's one stdout interleave their words.
with open(os.path.join(os.environ["RANK_OUT"], f"rank{dist.rank}"), "w") as out:
    out.write(" ".join(["rank", str(dist.rank), "threads", *threads]))
"""


@pytest.mark.slow
def test_shutdown_leaves_no_gloo_thread_to_the_exit(tmp_path):
    """After shutdown() no process group is left: one kept alive (torch.distributed.nn, imported by DDP after the
    group was made, held it) went down with the interpreter at exit beside gloo's threads, and now and then a rank
    died there of SIGABRT."""
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    out = train(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *log_dir(tmp_path),
                 str(script)], tmp_path,
                {"PYTHONPATH": str(ROOT), "RANK_OUT": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [(tmp_path / f"rank{rank}").read_text() for rank in (0, 1)]
    assert lines == ["rank 0 threads python", "rank 1 threads python"], out.stdout


@pytest.mark.slow
def test_a_queued_run_with_two_processes_goes_through_torchrun(nin_home):
    """What the dashboard does: queue a run asking for two processes; the worker launches torchrun for it."""
    store = RunStore()
    run_id = store.create_run(CONFIG.with_overrides(processes=2, epochs=1), "from the queue")
    out = train(["-m", "nin_core", "work"], nin_home)
    assert out.returncode == 0, out.stderr[-2000:]
    run = store.get_run(run_id)
    assert (run.status, run.device) == ("finished", "cpu × 2"), (run.message, json.dumps(run.final))
    assert (store.run_dir(run_id) / "torchrun.log").exists()
    assert (store.run_dir(run_id) / "torchrun").is_dir()  # torchrun's records, kept with the run, not in /tmp

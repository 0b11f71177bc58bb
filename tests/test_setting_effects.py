"""What a setting does, held by one contract for every declared setting (in the manner of timm's test_models.py):
a value other than the base configuration's must change what the setting declares it changes (``Spec.affects``) in
a real, short run of the Trainer, and the exported script, fed the same batches, must reproduce it.

The runs are watched through PyTorch's global hooks only (each module call, each optimizer step), so nothing of the
Trainer is patched or read from its insides: the network as it was at its first step (layers and initial
weights), each training batch and its loss, the optimizer and the rate of each step, and what each evaluation
predicts. The data are small synthetic IDX files whose images each carry their number in a constant centre patch,
which survives resizing, flips and shifts, so the images a run trains and evaluates on can be named.
"""

from __future__ import annotations

import copy
import runpy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from nin_core.lab.bench import torchvision_root
from nin_core.lab.export import export_script
from nin_core.network.config import SETTINGS, ArchConfig, BlockConfig, RunConfig, TrainConfig
from nin_core.network.data import IDX_FILES, write_idx
from nin_core.network.devices import resolve_device
from nin_core.network.settings import Effect, Setting, format_value
from nin_core.network.train import Trainer

# Every setting at its default but for size: a narrow NiN at 14 px, one epoch of two steps on 32 images, 16
# evaluated, exact float32. (One epoch: the Trainer ends a run that sits at chance after its first of several.)
BASE = RunConfig(arch=ArchConfig(blocks=(BlockConfig(8, 5, 1, 2), BlockConfig(8, 3, 1, 1), BlockConfig(10, 3, 1, 1)),
                                 resize=14),
                 train=TrainConfig(epochs=1, batch_size=16, train_size=32, test_size=16, precision="float32"))
OTHER_FOLDER = "the other data folder"
# Values where the generic choice (below) would not be valid beside the base, or would not differ from it:
VALUES: dict[str, Any] = {
    "blocks": (BlockConfig(8, 5, 1, 2), BlockConfig(10, 3, 1, 1)),
    "resize": 16,
    "lr": 0.05,  # the generic quarter of the range (25) diverges in two steps
    "batch_size": 8,  # the generic 1 is 32 steps
    "num_classes": 12,  # fewer than Fashion-MNIST's 10 cannot train on it
    "train_size": 48,  # the batch of 16 needs at least 16 images
    "warmup_epochs": 0.5,  # shorter than the run's one epoch
    "validation_size": 24,  # enough for the 16 test images drawn from it
    "precision": "bf16",  # auto is float32 or bf16, whichever the device runs natively: on its own, one of them
    "device": "cpu",
    "data_dir": OTHER_FOLDER,
}
CONTEXT: dict[str, dict[str, Any]] = {  # set in both runs, for a value that needs it
    "nesterov": {"momentum": 0.9},
    "num_classes": {"head": "fc"},  # the global pool needs one map per class: the last block would change too
}
TRAIN_IMAGES, TEST_IMAGES = 200, 40


def other_values(s: Setting) -> list[Any]:
    """Values that are not the base's: every other choice of a setting with choices."""
    base = BASE.get(s.name)
    if s.name in VALUES:
        return [VALUES[s.name]]
    if s.kind is bool:
        return [not base]
    if s.spec.choices:
        return [c for c in s.spec.choices if c != base]
    if s.kind is int and s.spec.low is not None:
        return [int(s.spec.low) if base != s.spec.low else int(s.spec.low) + 1]
    if s.kind is float and s.spec.low is not None:
        return [(s.spec.low + s.spec.high) / 4]
    return [f"no value for {s.name}: add one to VALUES"]


CASES = [pytest.param(name, value, id=f"{name}={format_value(value)}")
         for name, s in SETTINGS.items() for value in other_values(s)]


# --- data ---------------------------------------------------------------------------------------------------

def write_data(folder: Path, seed: int) -> Path:
    """Fashion-MNIST's four IDX files, small: image i of the training split has value i + 1 in its 12×12 centre,
    the test split's go on from there; the rest is noise."""
    gen = torch.Generator().manual_seed(seed)
    for split, first, n in (("train", 1, TRAIN_IMAGES), ("test", 1 + TRAIN_IMAGES, TEST_IMAGES)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen)
        images[:, 8:20, 8:20] = torch.arange(first, first + n, dtype=torch.uint8)[:, None, None]
        labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=gen)
        prefix = "train" if split == "train" else "test"
        write_idx(folder / IDX_FILES[f"{prefix}_images"], images)
        write_idx(folder / IDX_FILES[f"{prefix}_labels"], labels)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One thread, the Trainer's tuner off (OMP_NUM_THREADS set, threads.py): runs that are compared do the same sums
    in the same order, and steps this small go fastest on one thread when the machine is busy."""
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """Two data folders (the base's and the other), each with a torchvision root for the exported script."""
    found = {}
    for name, seed in (("base", 1), (OTHER_FOLDER, 2)):
        tmp = tmp_path_factory.mktemp("data")
        idx = write_data(tmp / "idx", seed)
        found[name] = (str(idx), torchvision_root(idx, tmp / "torchvision"))
    return found


def ids(x: torch.Tensor) -> list[int]:
    """The number each image of a batch carries."""
    c = x.shape[-1] // 2
    return [round(v) for v in (x[:, 0, c, c].float() * 255).tolist()]


# --- watching a run -----------------------------------------------------------------------------------------

@dataclass
class Seen:
    """What a run did, as PyTorch's hooks saw it."""

    model: nn.Module | None = None  # a copy of the network at the first training step: its initial weights
    device: torch.device | None = None
    train: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # each step's images and labels
    losses: list[float] = field(default_factory=list)
    optimizer: tuple[str, dict] | None = None  # its class and its hyperparameters but the rate
    lrs: list[float] = field(default_factory=list)  # the rate of each step
    evaluated: list[torch.Tensor] = field(default_factory=list)  # each evaluation call's images


@contextmanager
def watching() -> Iterator[Seen]:
    """Every top-level module call (the network, the loss) and every optimizer step while it is open."""
    seen, depth, images = Seen(), [0], []

    def before(module: nn.Module, args: tuple) -> None:
        if depth[0] == 0 and not isinstance(module, nn.CrossEntropyLoss):
            x = args[0].detach()
            if not module.training:
                seen.evaluated.append(x.cpu().clone())
            else:
                if seen.model is None:
                    seen.model, seen.device = copy.deepcopy(module).cpu(), x.device
                images.append(x.cpu().clone())
        depth[0] += 1

    def after(module: nn.Module, args: tuple, output: Any) -> None:
        depth[0] -= 1
        if depth[0] == 0 and isinstance(module, nn.CrossEntropyLoss):
            seen.train.append((images.pop(), args[1].detach().cpu().clone()))
            seen.losses.append(float(output.detach()))

    def step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        group = optimizer.param_groups[0]
        if seen.optimizer is None:
            seen.optimizer = (type(optimizer).__name__,
                              {k: v for k, v in group.items() if k not in ("params", "lr", "initial_lr")})
        seen.lrs.append(group["lr"])

    handles = [register_module_forward_pre_hook(before), register_module_forward_hook(after),
               register_optimizer_step_pre_hook(step)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


_trained: dict[RunConfig, Seen] = {}


def trained(config: RunConfig) -> Seen:
    """A short real run of the Trainer, watched (each configuration once)."""
    if config not in _trained:
        with watching() as seen:
            result = Trainer(config).run()
        assert result.status == "finished", result.message
        _trained[config] = seen
    return _trained[config]


def exported(config: RunConfig, run: Seen, batches: list, root: Path, tmp_path: Path) -> tuple[dict, Seen]:
    """The exported script's names, and its ``train`` watched on the Trainer's batches of the first epoch (before
    augmentation: ``batches``) with the Trainer's first evaluation batch."""
    path = tmp_path / "nin.py"
    path.write_text(export_script(config))
    names = runpy.run_path(str(path), run_name="exported")
    per_epoch = len(run.train) // config.train.epochs
    test_batch = (run.evaluated[0], torch.zeros(len(run.evaluated[0]), dtype=torch.int64))
    with watching() as seen:
        names["train"](names["net"], batches[:per_epoch], [test_batch], names["num_epochs"], torch.device("cpu"))
    names["loaders"] = names["load_data_fashion_mnist"](names["batch_size"], names["resize"], str(root))
    return names, seen


# --- what differs -------------------------------------------------------------------------------------------

def same_tensors(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b, strict=True))


def same_model(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return repr(a) == repr(b) and list(sa) == list(sb) and all(same_tensors([sa[k]], [sb[k]]) for k in sa)


def same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> bool:
    """The same logits in evaluation, and in training (dropout drawing from the same seed, in one memory layout:
    a mask is drawn in memory order)."""
    outputs, x = [], x.contiguous()
    for net in (copy.deepcopy(a), copy.deepcopy(b)):
        net.to(memory_format=torch.contiguous_format)
        with torch.no_grad():
            evaluated = net.eval()(x)
            with torch.random.fork_rng():
                torch.manual_seed(0)
                outputs.append((evaluated, net.train()(x)))
    (ea, ta), (eb, tb) = outputs
    return ea.shape == eb.shape and torch.allclose(ea, eb, atol=1e-5) and torch.allclose(ta, tb, atol=1e-5)


def first_epoch(run: Seen, config: RunConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return run.train[:len(run.train) // config.train.epochs]


def first_evaluation(run: Seen, config: RunConfig) -> list[torch.Tensor]:
    return run.evaluated[:len(run.evaluated) // config.train.epochs]


def changed(effect: Effect, config: RunConfig, run: Seen, base: Seen) -> bool:
    """Whether ``run`` differs from ``base`` in what ``effect`` names."""
    if effect is Effect.MODEL:
        return not same_model(run.model, base.model)
    if effect is Effect.OPTIMIZER:
        return run.optimizer != base.optimizer
    if effect is Effect.SCHEDULE:
        return run.lrs != base.lrs
    if effect is Effect.LOSS:  # the same weights and the same batch, another loss
        assert same_model(run.model, base.model) and same_tensors(list(run.train[0]), list(base.train[0]))
        return abs(run.losses[0] - base.losses[0]) > 1e-6
    if effect is Effect.DATA:
        return not same_tensors([t for step in run.train for t in step], [t for step in base.train for t in step])
    if effect is Effect.EVALUATION:
        return not same_tensors(run.evaluated, base.evaluated)
    if effect is Effect.PLACE:
        return run.device == resolve_device(config.train.device)  # the same numbers, where they are computed
    if effect is Effect.RUNS:  # more runs, one per seed, each the base's run with its own seed
        seeds = config.seed_configs()
        return [c.train.seed for c in seeds] == [config.train.seed + i for i in range(config.train.repeats)] and \
            seeds[0] == replace(config, train=replace(config.train, repeats=1)) and same_model(run.model, base.model)
    raise AssertionError(f"no check for {effect}")


def reproduced(effect: Effect, config: RunConfig, names: dict, script: Seen, run: Seen, base: Seen) -> bool:
    """Whether the exported script does what the Trainer did, in what ``effect`` names."""
    if effect is Effect.MODEL:
        ours, theirs = run.model.state_dict(), script.model.state_dict()
        return list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours) and \
            same_outputs(run.model, script.model, run.train[0][0])
    if effect is Effect.OPTIMIZER:
        return script.optimizer == run.optimizer
    if effect is Effect.SCHEDULE:
        return script.lrs == run.lrs
    if effect is Effect.LOSS:  # from the same weights and batch: nearer this run's loss than the base's
        return abs(script.losses[0] - run.losses[0]) < abs(script.losses[0] - base.losses[0])
    if effect is Effect.DATA:
        train_loader = names["loaders"][0]
        trained_ids = Counter(i for x, _ in first_epoch(run, config) for i in ids(x))
        loaded = [train_loader.dataset[i][0] for i in range(len(train_loader.dataset))]
        return same_tensors([x for x, _ in script.train[:len(first_epoch(run, config))]],
                            [x for x, _ in first_epoch(run, config)]) and \
            train_loader.batch_size == len(run.train[0][1]) and loaded[0].shape == run.train[0][0].shape[1:] and \
            Counter(i for x in loaded for i in ids(x[None])) == trained_ids
    if effect is Effect.EVALUATION:
        test_set = names["loaders"][1].dataset
        test_ids = [ids(test_set[i][0][None])[0] for i in range(len(test_set))]
        evaluated_ids = list(dict.fromkeys(i for x in first_evaluation(run, config) for i in ids(x)))
        return same_tensors(first_evaluation(script, config), first_evaluation(run, config)) and \
            test_ids == evaluated_ids
    if effect is Effect.PLACE:  # the script runs where it is run: it says where the dashboard trains
        return export_script(config) != export_script(replace(config, train=replace(
            config.train, **{k: getattr(BASE.train, k) for k in ("device", "processes")})))
    if effect is Effect.RUNS:  # the script is one of the runs, and says which seeds the others take
        text = export_script(config)
        return f"over {config.train.repeats} seeds" in text and f"seed = {config.train.seed}" in text
    raise AssertionError(f"no check for {effect}")


@pytest.mark.parametrize("name, value", CASES)
def test_a_setting_changes_what_it_declares_in_training_and_in_the_exported_script(name, value, folders, tmp_path):
    s = SETTINGS[name]
    assert s.spec.affects, f"{name} declares no effect: say what it changes (settings.Effect) in its declaration"
    assert not str(value).startswith("no value"), value
    data_dir, root = folders["base"]
    base_config = BASE.with_overrides(data_dir=data_dir, **CONTEXT.get(name, {})).check()
    if value == OTHER_FOLDER:
        value, root = folders[OTHER_FOLDER]
    config = base_config.with_overrides(**{name: value}).check()
    base, run = trained(base_config), trained(config)
    # The exported script is fed the Trainer's batches as they were before augmentation, and augments them itself.
    batches = run.train if config.train.augment == "none" else trained(config.with_overrides(augment="none")).train
    names, script = exported(config, run, batches, root, tmp_path)
    for effect in s.spec.affects:
        differs, same = changed(effect, config, run, base), reproduced(effect, config, names, script, run, base)
        assert differs, f"{name}={format_value(value)} does not change the {effect} in training"
        assert same, f"the exported script does not reproduce the {effect} of {name}={format_value(value)}"

"""Typed, JSON-serialisable configuration for NiN and its training, with validation and presets.

Validation never raises on the first problem: it returns every problem as a ``ConfigIssue`` naming the
field (as the dashboard and the CLI show it) and the reason, so a page can put each message next to its field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
INITS = ("xavier", "default")
PRECISIONS = ("auto", "float32", "bf16")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

FASHION_MNIST_TRAIN = 60_000
FASHION_MNIST_TEST = 10_000
MAX_RESIZE = 1024


class ConfigError(ValueError):
    """A configuration that cannot be used; ``issues`` holds every problem found."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


@dataclass(frozen=True)
class ConfigIssue:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class BlockConfig:
    """One NiN block: a k×k convolution, then two 1×1 convolutions, each followed by ReLU."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0


SEED_BLOCKS = (
    BlockConfig(96, 11, 4, 0),
    BlockConfig(256, 5, 1, 2),
    BlockConfig(384, 3, 1, 1),
    BlockConfig(10, 3, 1, 1),
)


@dataclass(frozen=True)
class ArchConfig:
    """The network: blocks with a max-pool after each but the last, dropout before the last, global average pool."""

    blocks: tuple[BlockConfig, ...] = SEED_BLOCKS
    pool_kernel: int = 3
    pool_stride: int = 2
    dropout: float = 0.5
    in_channels: int = 1
    num_classes: int = 10
    resize: int = 224


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 0.1
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    init: str = "xavier"
    seed: int = 0
    device: str = "auto"
    # None means the whole split; a number takes a seeded random subset of that many images.
    train_size: int | None = None
    test_size: int | None = None
    # bf16 autocast where the device runs it fast ("auto"), or always float32 as the seed does.
    precision: str = "auto"
    data_dir: str | None = None
    # More than one: DistributedDataParallel over that many processes (one per GPU), launched with torchrun.
    processes: int = 1


@dataclass(frozen=True)
class RunConfig:
    arch: ArchConfig = field(default_factory=ArchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """Build from plain data (JSON), rejecting unknown keys and wrong types with the field's name."""
        issues: list[ConfigIssue] = []
        if not isinstance(data, dict):
            raise ConfigError([ConfigIssue("config", "must be a JSON object with 'arch' and 'train'")])
        _unknown_keys(data, {"arch", "train"}, "", issues)
        arch_data = data.get("arch", {})
        train_data = data.get("train", {})
        arch = _build(ArchConfig, arch_data, "arch", issues)
        train = _build(TrainConfig, train_data, "train", issues)
        if issues:
            raise ConfigError(issues)
        return cls(arch=arch, train=train)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError([ConfigIssue("config", f"is not valid JSON ({e.msg} at line {e.lineno})")]) from None
        return cls.from_dict(data)

    def with_overrides(self, **overrides: Any) -> RunConfig:
        """Replace fields by name (``lr=0.05``, ``resize=96``), wherever they live."""
        arch_names = {f.name for f in fields(ArchConfig)}
        train_names = {f.name for f in fields(TrainConfig)}
        arch_kw = {k: v for k, v in overrides.items() if k in arch_names}
        train_kw = {k: v for k, v in overrides.items() if k in train_names}
        unknown = set(overrides) - arch_names - train_names
        if unknown:
            raise ConfigError([ConfigIssue(name, "is not a setting") for name in sorted(unknown)])
        return RunConfig(arch=replace(self.arch, **arch_kw), train=replace(self.train, **train_kw))

    # --- validation ----------------------------------------------------------------------------
    def validate(self) -> list[ConfigIssue]:
        return validate(self)

    def check(self) -> RunConfig:
        """Return self if valid, else raise ConfigError listing every problem."""
        issues = self.validate()
        if issues:
            raise ConfigError(issues)
        return self


def _unknown_keys(data: dict, allowed: set[str], prefix: str, issues: list[ConfigIssue]) -> None:
    for key in data:
        if key not in allowed:
            issues.append(ConfigIssue(f"{prefix}{key}", "is not a setting"))


def _coerce(value: Any, annotation: str, name: str, issues: list[ConfigIssue]) -> Any:
    """Check one JSON value against its dataclass annotation; JSON has no tuples, ints may stand for floats."""
    optional = annotation.endswith("| None")
    base = annotation.replace("| None", "").strip()
    if value is None and optional:
        return None
    expected = {"int": int, "float": (int, float), "str": str}.get(base)
    if expected is None:
        return value
    if isinstance(value, bool) or not isinstance(value, expected):
        issues.append(ConfigIssue(name, f"must be {'an' if base == 'int' else 'a'} {base}, got {value!r}"))
        return None
    return float(value) if base == "float" else value


def _build(cls: type, data: Any, prefix: str, issues: list[ConfigIssue]) -> Any:
    if not isinstance(data, dict):
        issues.append(ConfigIssue(prefix, "must be a JSON object"))
        return cls()
    names = {f.name: f for f in fields(cls)}
    _unknown_keys(data, set(names), f"{prefix}.", issues)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            continue
        if key == "blocks":
            kwargs[key] = _build_blocks(value, f"{prefix}.blocks", issues)
        else:
            kwargs[key] = _coerce(value, str(names[key].type), f"{prefix}.{key}", issues)
    return cls(**{k: v for k, v in kwargs.items() if v is not None or str(names[k].type).endswith("None")})


def _build_blocks(value: Any, prefix: str, issues: list[ConfigIssue]) -> tuple[BlockConfig, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        issues.append(ConfigIssue(prefix, "must be a non-empty list of blocks"))
        return SEED_BLOCKS
    blocks = []
    for i, item in enumerate(value):
        name = f"{prefix}[{i}]"
        if isinstance(item, (list, tuple)) and len(item) == 4:  # the compact form (out_channels, kernel, stride, padding)
            item = dict(zip(("out_channels", "kernel_size", "stride", "padding"), item))
        if not isinstance(item, dict):
            issues.append(ConfigIssue(name, "must be an object with out_channels, kernel_size, stride, padding"))
            continue
        before = len(issues)
        block = _build(BlockConfig, {"stride": 1, "padding": 0, **item}, name, issues) if _has_required(
            item, name, issues) else None
        if block is not None and len(issues) == before:
            blocks.append(block)
    return tuple(blocks) or SEED_BLOCKS


def _has_required(item: dict, name: str, issues: list[ConfigIssue]) -> bool:
    missing = [k for k in ("out_channels", "kernel_size") if k not in item]
    for k in missing:
        issues.append(ConfigIssue(f"{name}.{k}", "is required"))
    return not missing


# --- validation rules --------------------------------------------------------------------------

def _check_int(issues: list[ConfigIssue], name: str, value: Any, lo: int, hi: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append(ConfigIssue(name, f"must be a whole number, got {value!r}"))
        return False
    if not lo <= value <= hi:
        issues.append(ConfigIssue(name, f"must be between {lo} and {hi}, got {value}"))
        return False
    return True


def _check_float(issues: list[ConfigIssue], name: str, value: Any, lo: float, hi: float,
                 lo_open: bool = False, hi_open: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        issues.append(ConfigIssue(name, f"must be a number, got {value!r}"))
        return False
    if not math.isfinite(value):
        issues.append(ConfigIssue(name, f"must be a finite number, got {value}"))
        return False
    too_low = value <= lo if lo_open else value < lo
    too_high = value >= hi if hi_open else value > hi
    if too_low or too_high:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        issues.append(ConfigIssue(name, f"must be in {interval}, got {value:g}"))
        return False
    return True


def _check_choice(issues: list[ConfigIssue], name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        issues.append(ConfigIssue(name, f"must be one of {', '.join(choices)}, got {value!r}"))


def validate(config: RunConfig) -> list[ConfigIssue]:
    """Every problem with a configuration, each naming its field; an empty list means it can be built and trained."""
    from .shapes import size_problem  # shapes imports config: import here to keep the modules acyclic

    issues: list[ConfigIssue] = []
    a, t = config.arch, config.train
    blocks_ok = isinstance(a.blocks, tuple) and 1 <= len(a.blocks) <= 8
    if not blocks_ok:
        issues.append(ConfigIssue("arch.blocks", "must hold between 1 and 8 blocks"))
    else:
        for i, b in enumerate(a.blocks):
            p = f"arch.blocks[{i}]"
            ok = _check_int(issues, f"{p}.out_channels", b.out_channels, 1, 4096)
            ok &= _check_int(issues, f"{p}.kernel_size", b.kernel_size, 1, 31)
            ok &= _check_int(issues, f"{p}.stride", b.stride, 1, 16)
            # More padding than kernel - 1 only adds border pixels that see nothing but zeros.
            ok = ok and _check_int(issues, f"{p}.padding", b.padding, 0, b.kernel_size - 1)
            blocks_ok &= ok
    pool_ok = _check_int(issues, "arch.pool_kernel", a.pool_kernel, 1, 15)
    pool_ok &= _check_int(issues, "arch.pool_stride", a.pool_stride, 1, 15)
    _check_float(issues, "arch.dropout", a.dropout, 0.0, 1.0, hi_open=True)
    _check_int(issues, "arch.in_channels", a.in_channels, 1, 4)
    if _check_int(issues, "arch.num_classes", a.num_classes, 2, 4096) and blocks_ok and \
            a.blocks[-1].out_channels != a.num_classes:
        issues.append(ConfigIssue(
            f"arch.blocks[{len(a.blocks) - 1}].out_channels",
            f"must equal num_classes ({a.num_classes}): in NiN the last block gives one map per class, "
            f"got {a.blocks[-1].out_channels}"))
    if _check_int(issues, "arch.resize", a.resize, 1, MAX_RESIZE) and blocks_ok and pool_ok:
        problem = size_problem(a, a.resize)
        if problem:
            issues.append(ConfigIssue("arch.resize", problem))

    _check_float(issues, "train.lr", t.lr, 0.0, 100.0, lo_open=True)
    _check_int(issues, "train.epochs", t.epochs, 1, 1000)
    _check_choice(issues, "train.optimizer", t.optimizer, OPTIMIZERS)
    _check_float(issues, "train.momentum", t.momentum, 0.0, 1.0, hi_open=True)
    _check_float(issues, "train.weight_decay", t.weight_decay, 0.0, 1.0)
    _check_choice(issues, "train.init", t.init, INITS)
    _check_choice(issues, "train.precision", t.precision, PRECISIONS)
    _check_int(issues, "train.seed", t.seed, 0, 2**31 - 1)
    _check_int(issues, "train.processes", t.processes, 1, 64)
    if not isinstance(t.device, str) or not DEVICE_PATTERN.match(t.device):
        issues.append(ConfigIssue("train.device", f"must be auto, cpu, cuda, cuda:N or mps, got {t.device!r}"))
    train_ok = t.train_size is None or _check_int(issues, "train.train_size", t.train_size, 1, FASHION_MNIST_TRAIN)
    if t.test_size is not None:
        _check_int(issues, "train.test_size", t.test_size, 1, FASHION_MNIST_TEST)
    if _check_int(issues, "train.batch_size", t.batch_size, 1, 8192) and train_ok:
        n_train = t.train_size or FASHION_MNIST_TRAIN
        if t.batch_size > n_train:
            issues.append(ConfigIssue("train.batch_size",
                                      f"{t.batch_size} is larger than the {n_train} training images"))
        elif isinstance(t.processes, int) and t.batch_size < t.processes:
            issues.append(ConfigIssue("train.batch_size", f"{t.batch_size} cannot be shared out over "
                                                          f"{t.processes} processes: each needs an image"))
    if t.data_dir is not None and not isinstance(t.data_dir, str):
        issues.append(ConfigIssue("train.data_dir", "must be a path"))
    return issues


# --- presets -----------------------------------------------------------------------------------

SEED = RunConfig()

# Measured on this project's 2-core CPU (docs/benchmarks.md): a NiN sized for 28 px that reaches a useful
# accuracy in a few minutes, the seed's design (blocks, 3/2 pools, dropout, global pool) kept.
CPU = RunConfig(
    arch=ArchConfig(
        blocks=(BlockConfig(48, 5, 1, 2), BlockConfig(96, 3, 1, 1), BlockConfig(128, 3, 1, 1),
                BlockConfig(10, 3, 1, 1)),
        resize=28,
    ),
    # Plain SGD sits at chance for hundreds of steps at this size; AdamW learns at once, and batch 64 gives it
    # twice the steps per epoch (on 12,000 images: test acc 0.77 against 0.64 with batch 128).
    train=TrainConfig(lr=0.002, optimizer="adamw", epochs=5, batch_size=64),
)

# Seconds on any machine: for trying the dashboard and for tests.
TINY = RunConfig(
    arch=ArchConfig(
        blocks=(BlockConfig(16, 5, 1, 2), BlockConfig(32, 3, 1, 1), BlockConfig(10, 3, 1, 1)),
        resize=28,
    ),
    # NiN with plain SGD sits at chance for its first few hundred steps; AdamW learns within a few seconds.
    train=TrainConfig(lr=0.003, optimizer="adamw", epochs=2, batch_size=64, train_size=4000, test_size=1000),
)

PRESETS: dict[str, RunConfig] = {"seed": SEED, "cpu": CPU, "tiny": TINY}

PRESET_DESCRIPTIONS = {
    "seed": "Exactly the chapter: four blocks at 224 px, lr 0.1, 10 epochs, batch 128. Hours on a CPU, minutes on a GPU.",
    "cpu": "A NiN sized for 28 px images: a useful model in a few minutes on a laptop CPU.",
    "tiny": "A small subset for a quick look: seconds on any machine.",
}


def preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError([ConfigIssue("preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")]) \
            from None

"""Typed, JSON-serialisable configuration for NiN and its training, with validation and presets.

Each setting is declared once, as a field below (``settings.setting``): its default is the chapter's, and its
label, range, group and the rest drive the checks, the form, the CLI flags, the link and the sweep.
Validation never raises on the first problem: it returns every problem as a ``ConfigIssue`` naming the field
(as the dashboard and the CLI show it) and the reason, so a page can put each message next to its field.
No torch here: the shape arithmetic that validation needs is in ``geometry``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, TypeVar

from nin_core.i18n import N_, _
from nin_core.network.geometry import MAX_RESIZE, size_problem
from nin_core.network.settings import Effect, Setting, from_json, parse_text, setting, settings_of, shown, value_problem

OPTIMIZERS = ("sgd", "adam", "adamw")
INITS = ("xavier", "default")
PRECISIONS = ("auto", "float32", "bf16")
SCHEDULES = ("constant", "onecycle", "cosine", "step")
AUGMENTS = ("none", "flip-shift")
HEADS = ("gap", "fc")

FASHION_MNIST_TRAIN = 60_000
FASHION_MNIST_TEST = 10_000
MAX_BLOCKS = 8


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
    """One NiN block: a k×k convolution, then (in the chapter) two 1×1 convolutions, each followed by ReLU."""

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
BLOCK_LIMITS = {"out_channels": (1, 4096), "kernel_size": (1, 31), "stride": (1, 16)}  # padding: 0 to kernel - 1

NETWORK, TRAINING, DATA = "network", "training", "data and device"


@dataclass(frozen=True)
class ArchConfig:
    """The network: blocks with a max-pool after each but the last, dropout before the last, global average pool."""

    SECTION: ClassVar[str] = "arch"

    blocks: tuple[BlockConfig, ...] = setting(
        SEED_BLOCKS, label=N_("NiN blocks"), group=NETWORK,
        help=N_("each block: a k×k conv (out channels, kernel, stride, padding), then 1×1 convs"),
        affects=(Effect.MODEL,), timed=True)
    pool_kernel: int = setting(3, label=N_("Pool kernel"), group=NETWORK, low=1, high=15, step=1,
                               help=N_("the max-pool after each block but the last"),
                               affects=(Effect.MODEL,), timed=True)
    pool_stride: int = setting(2, label=N_("Pool stride"), group=NETWORK, low=1, high=15, step=1,
                               affects=(Effect.MODEL,), timed=True)
    dropout: float = setting(0.5, label=N_("Dropout"), group=NETWORK, low=0.0, high=1.0, high_open=True, step=0.05,
                             sweep=True, help=N_("before the last block"),
                             affects=(Effect.MODEL,), timed=True)
    in_channels: int = setting(1, label=N_("Input channels"), group=NETWORK, low=1, high=4, step=1,
                               affects=(Effect.MODEL,), timed=True)
    num_classes: int = setting(10, label=N_("Classes"), group=NETWORK, low=2, high=4096, step=1,
                               affects=(Effect.MODEL,), timed=True)
    resize: int = setting(224, label=N_("Resize (px)"), group=NETWORK, unit="px", low=1, high=MAX_RESIZE, step=1,
                          sweep=True, help=N_("images are resized to N×N before the network"),
                          affects=(Effect.DATA,), timed=True)
    batch_norm: bool = setting(False, label=N_("Batch norm"), group=NETWORK, chapter=False, sweep=True,
                               help=N_("a BatchNorm2d after every convolution, before its ReLU (d2l's next chapters)"),
                               affects=(Effect.MODEL,), timed=True)
    pointwise_convs: int = setting(2, label=N_("1×1 convs per block"), group=NETWORK, low=0, high=3, step=1,
                                   chapter=False, sweep=True,
                                   help=N_("how many 1×1 convolutions follow each block's k×k convolution"),
                                   affects=(Effect.MODEL,), timed=True)
    pointwise_kernel: int = setting(1, label=N_("Their kernel"), group=NETWORK, choices=(1, 3), chapter=False,
                                    sweep=True, help=N_("3: the chapter's exercise, 3×3 instead of 1×1 (padding keeps "
                                                        "the size)"),
                                    affects=(Effect.MODEL,), timed=True)
    head: str = setting("gap", label=N_("Head"), group=NETWORK, choices=HEADS, chapter=False, sweep=True,
                        help=N_("gap: the chapter's global average pool of one map per class; fc: flatten, then a "
                                "fully connected layer (the last block keeps its channels)"),
                        affects=(Effect.MODEL,), timed=True)
    final_relu: bool = setting(True, label=N_("ReLU after the last block"), group=NETWORK, chapter=False, sweep=True,
                               help=N_("the chapter has it; it is what lets every class map die at once"),
                               affects=(Effect.MODEL,), timed=True)


@dataclass(frozen=True)
class TrainConfig:
    SECTION: ClassVar[str] = "train"

    lr: float = setting(0.1, label=N_("Learning rate"), low=0.0, high=100.0, low_open=True, step=0.01, sweep=True,
                        help=N_("the peak rate under a schedule"),
                        affects=(Effect.SCHEDULE,))
    epochs: int = setting(10, label=N_("Epochs"), low=1, high=1000, step=1, sweep=True,
                          affects=(Effect.SCHEDULE,))
    batch_size: int = setting(128, label=N_("Batch size"), low=1, high=8192, step=1, sweep=True,
                              affects=(Effect.DATA,), timed=True)
    optimizer: str = setting("sgd", label=N_("Optimizer"), choices=OPTIMIZERS, sweep=True,
                             affects=(Effect.OPTIMIZER,), timed=True)
    momentum: float = setting(0.0, label=N_("Momentum"), low=0.0, high=1.0, high_open=True, step=0.1, sweep=True,
                              affects=(Effect.OPTIMIZER,), timed=True)
    weight_decay: float = setting(0.0, label=N_("Weight decay"), low=0.0, high=1.0, step=0.0001, sweep=True,
                                  affects=(Effect.OPTIMIZER,), timed=True)
    init: str = setting("xavier", label=N_("Initialisation"), choices=INITS, sweep=True,
                        help=N_("xavier: d2l's train_ch6 (xavier-uniform weights); default: PyTorch's own"),
                        affects=(Effect.MODEL,))
    seed: int = setting(0, label=N_("Random seed"), low=0, high=2**31 - 1, step=1, sweep=True,
                        affects=(Effect.MODEL, Effect.DATA))
    repeats: int = setting(1, label=N_("Repeats (seeds)"), low=1, high=10, step=1, chapter=False,
                           help=N_("train over this many seeds (seed, seed + 1, …), one run each, shown as one group "
                                   "(mean ± sd): how far one setting beats another is only known beside this noise"),
                           affects=(Effect.RUNS,))
    schedule: str = setting("constant", label=N_("LR schedule"), choices=SCHEDULES, chapter=False, sweep=True,
                            help=N_("constant: the chapter's; onecycle, cosine: up to the rate, then down; step: a "
                                    "tenth at half and three quarters of the run"),
                            affects=(Effect.SCHEDULE,))
    warmup_epochs: float = setting(0.0, label=N_("Warm-up epochs"), low=0.0, high=1000.0, step=0.5, chapter=False,
                                   sweep=True, help=N_("the rate rises linearly from a tenth over these epochs "
                                                       "(onecycle with 0: its usual 30 % of the run)"),
                                   affects=(Effect.SCHEDULE,))
    label_smoothing: float = setting(0.0, label=N_("Label smoothing"), low=0.0, high=0.5, step=0.05, chapter=False,
                                     sweep=True, help=N_("cross-entropy against targets mixed with the uniform"),
                                     affects=(Effect.LOSS,))
    nesterov: bool = setting(False, label=N_("Nesterov"), chapter=False, sweep=True,
                             help=N_("Nesterov momentum (SGD with momentum > 0 only)"),
                             affects=(Effect.OPTIMIZER,), timed=True)
    augment: str = setting("none", label=N_("Augmentation"), choices=AUGMENTS, chapter=False, sweep=True,
                           help=N_("flip-shift: random horizontal flips and shifts of up to 2 px at 28 px (scaled "
                                   "with the resize), on the training images only"),
                           affects=(Effect.DATA,), timed=True)
    tta: bool = setting(False, label=N_("Test-time flips"), chapter=False, sweep=True,
                        help=N_("evaluation averages the prediction of each image and its mirror"),
                        affects=(Effect.EVALUATION,), timed=True)
    device: str = setting("auto", label=N_("Device"), group=DATA, pattern=r"auto|cpu|mps|cuda(:\d+)?",
                          pattern_text=N_("auto, cpu, cuda, cuda:N or mps"),
                          help=N_("auto: the GPU when there is one, else the CPU"),
                          affects=(Effect.PLACE,))
    # None means the whole split; a number takes a seeded random subset of that many images.
    train_size: int | None = setting(None, label=N_("Training images"), group=DATA, low=1, high=FASHION_MNIST_TRAIN,
                                     step=1000, sweep=True, none_text=N_("all 60,000"),
                                     help=N_("a seeded random subset"),
                                     affects=(Effect.DATA,))
    test_size: int | None = setting(None, label=N_("Test images"), group=DATA, low=1, high=FASHION_MNIST_TEST,
                                    step=1000, none_text=N_("all 10,000"), help=N_("a seeded random subset"),
                                    affects=(Effect.EVALUATION,))
    validation_size: int = setting(0, label=N_("Validation images"), group=DATA, low=0, high=30_000, step=1000,
                                   chapter=False,
                                   help=N_("hold out the last N training images and evaluate on them instead of "
                                           "the test set: choose settings on these, report the test set once"),
                                   affects=(Effect.DATA, Effect.EVALUATION))
    # bf16 autocast where the device runs it fast ("auto"), or always float32 as the seed does.
    precision: str = setting("auto", label=N_("Precision"), group=DATA, choices=PRECISIONS, sweep=True,
                             help=N_("auto: bf16 where the device computes it natively (a recent GPU, or a CPU with "
                                     "AVX-512 BF16 or AMX); float32: exactly the seed"),
                             affects=(Effect.LOSS,), timed=True)
    data_dir: str | None = setting(None, label=N_("Data folder"), group=DATA, none_text=N_("found automatically"),
                                   help=N_("a folder holding the four Fashion-MNIST IDX files"),
                                   affects=(Effect.DATA,))
    # More than one: DistributedDataParallel over that many processes (one per GPU), launched with torchrun.
    processes: int = setting(1, label=N_("GPUs"), group=DATA, low=1, high=64, step=1,
                             help=N_("more than one: DistributedDataParallel, one process per GPU, through torchrun"),
                             affects=(Effect.PLACE,))


SETTINGS: dict[str, Setting] = settings_of(ArchConfig, TrainConfig)


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
        """Build from plain data (JSON), rejecting unknown keys and wrong types with the field's name. A setting
        left out takes its default, the chapter's: configurations written before it existed still load."""
        issues: list[ConfigIssue] = []
        if not isinstance(data, dict):
            raise ConfigError([ConfigIssue("config", _("must be a JSON object with 'arch' and 'train'"))])
        issues += [ConfigIssue(key, _("is not a setting")) for key in data if key not in ("arch", "train")]
        arch = _build(ArchConfig, data.get("arch", {}), issues)
        train = _build(TrainConfig, data.get("train", {}), issues)
        if issues:
            raise ConfigError(issues)
        return cls(arch=arch, train=train)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError([ConfigIssue("config", _("is not valid JSON ({why} at line {line})").format(
                why=e.msg, line=e.lineno))]) from None
        except RecursionError:  # arrays or objects nested deeper than Python's parser goes
            raise ConfigError([ConfigIssue("config", _("is nested too deeply to be a configuration"))]) from None
        except ValueError:  # valid JSON raises no other: an integer past Python's limit on digits
            raise ConfigError([ConfigIssue("config", _("holds a number of more than {digits} digits").format(
                digits=sys.get_int_max_str_digits()))]) from None
        return cls.from_dict(data)

    def get(self, name: str) -> Any:
        """A setting's value by name (``lr``, ``resize``), wherever it lives."""
        return getattr(getattr(self, SETTINGS[name].section), name)

    def with_overrides(self, **overrides: Any) -> RunConfig:
        """Replace settings by name (``lr=0.05``, ``resize=96``), wherever they live."""
        unknown = sorted(set(overrides) - set(SETTINGS))
        if unknown:
            raise ConfigError([ConfigIssue(name, _("is not a setting")) for name in unknown])
        arch_kw = {k: v for k, v in overrides.items() if SETTINGS[k].section == "arch"}
        train_kw = {k: v for k, v in overrides.items() if SETTINGS[k].section == "train"}
        return RunConfig(arch=replace(self.arch, **arch_kw), train=replace(self.train, **train_kw))

    def seed_configs(self) -> list[RunConfig]:
        """Each repeat's own run: seeds seed, seed + 1, …, each one run (repeats 1), the rest unchanged."""
        seed = self.train.seed
        return [self.with_overrides(seed=seed + i, repeats=1) for i in range(self.train.repeats)]

    # --- validation ----------------------------------------------------------------------------
    def validate(self) -> list[ConfigIssue]:
        return validate(self)

    def check(self) -> RunConfig:
        """Return self if valid, else raise ConfigError listing every problem."""
        issues = self.validate()
        if issues:
            raise ConfigError(issues)
        return self


_Section = TypeVar("_Section", ArchConfig, TrainConfig)


def _build(cls: type[_Section], data: Any, issues: list[ConfigIssue]) -> _Section:
    section = cls.SECTION
    if not isinstance(data, dict):
        issues.append(ConfigIssue(section, _("must be a JSON object")))
        return cls()
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        s = SETTINGS.get(key)
        if s is None or s.section != section:
            issues.append(ConfigIssue(f"{section}.{key}", _("is not a setting")))
        elif key == "blocks":
            kwargs[key] = _build_blocks(value, f"{section}.blocks", issues)
        else:
            value, problem = from_json(s, value)
            if problem:
                issues.append(ConfigIssue(s.path, problem))
            else:
                kwargs[key] = value
    return cls(**kwargs)


def _build_blocks(value: Any, prefix: str, issues: list[ConfigIssue]) -> tuple[BlockConfig, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        issues.append(ConfigIssue(prefix, _("must be a non-empty list of blocks")))
        return SEED_BLOCKS
    names = [f.name for f in fields(BlockConfig)]
    blocks = []
    for i, item in enumerate(value):
        name = f"{prefix}[{i}]"
        if isinstance(item, (list, tuple)) and len(item) == 4:  # compact: out_channels, kernel, stride, padding
            item = dict(zip(names, item, strict=True))
        if not isinstance(item, dict):
            issues.append(ConfigIssue(name, _("must be an object with out_channels, kernel_size, stride, padding")))
            continue
        before = len(issues)
        issues += [ConfigIssue(f"{name}.{k}", _("is required")) for k in names[:2] if k not in item]
        issues += [ConfigIssue(f"{name}.{k}", _("is not a setting")) for k in item if k not in names]
        issues += [ConfigIssue(f"{name}.{k}", _("must be a whole number, got {value}").format(value=shown(v)))
                   for k, v in item.items()
                   if k in names and (isinstance(v, bool) or not isinstance(v, int))]
        if len(issues) == before:
            blocks.append(BlockConfig(**item))
    return tuple(blocks) or SEED_BLOCKS


def parse_blocks(text: str) -> tuple[tuple[BlockConfig, ...] | None, str | None]:
    """``48-5-1-2,96-3-1-1`` (out_channels-kernel_size-stride-padding; stride and padding may be left off: 1 and
    0) → blocks, or None and why not."""
    if not text.strip():
        return None, _("gives no blocks")
    blocks = []
    for i, part in enumerate((p.strip() for p in text.split(",")), start=1):
        numbers = part.split("-")
        if not 2 <= len(numbers) <= 4 or not all(n.strip().isdigit() for n in numbers):
            return None, _("block {number} ({text}) must be out_channels-kernel_size-stride-padding in whole "
                            "numbers, e.g. 96-3-1-1").format(number=i, text=shown(part))
        values = [int(n) for n in numbers] + [1, 0][len(numbers) - 2:]
        blocks.append(BlockConfig(*values))
    return tuple(blocks), None


def parse_setting(name: str, text: str) -> tuple[Any, str | None]:
    """One setting's value from its text, as a link, a CLI flag and a sweep list write it → (value, None), or
    (None, why it cannot be read)."""
    return parse_blocks(text) if name == "blocks" else parse_text(SETTINGS[name], text)


# --- validation rules --------------------------------------------------------------------------

def _blocks_issues(a: ArchConfig) -> list[ConfigIssue]:
    if not isinstance(a.blocks, tuple) or not 1 <= len(a.blocks) <= MAX_BLOCKS:
        return [ConfigIssue("arch.blocks", _("must hold between 1 and {most} blocks").format(most=MAX_BLOCKS))]
    issues: list[ConfigIssue] = []

    def check(i: int, name: str, lo: int, hi: int) -> bool:
        value, where = getattr(a.blocks[i], name), f"arch.blocks[{i}].{name}"
        if isinstance(value, bool) or not isinstance(value, int):
            issues.append(ConfigIssue(where, _("must be a whole number, got {value}").format(value=shown(value))))
        elif not lo <= value <= hi:
            issues.append(ConfigIssue(where, _("must be between {low} and {high}, got {value}").format(
                low=lo, high=hi, value=value)))
        else:
            return True
        return False

    for i, b in enumerate(a.blocks):
        fine = {name: check(i, name, lo, hi) for name, (lo, hi) in BLOCK_LIMITS.items()}
        if fine["kernel_size"]:  # more padding than kernel - 1 only adds border pixels that see nothing but zeros
            check(i, "padding", 0, b.kernel_size - 1)
    return issues


def validate(config: RunConfig) -> list[ConfigIssue]:
    """Every problem with a configuration, each naming its field; an empty list means it can be built and trained."""
    a, t = config.arch, config.train
    issues, bad = _value_issues(config)
    block_issues = _blocks_issues(a)
    issues[:0] = block_issues
    if not block_issues:
        issues += _network_issues(a, bad)
    if not bad & {"train_size", "validation_size", "batch_size", "processes"}:
        issues += _split_issues(t)
    if not bad & {"test_size", "validation_size"} and t.validation_size and (t.test_size or 0) > t.validation_size:
        issues.append(ConfigIssue("train.test_size", _(
            "{count} is more than the {validation} validation images it is drawn from").format(
                count=t.test_size, validation=t.validation_size)))
    if not bad & {"nesterov", "optimizer", "momentum"} and t.nesterov and (t.optimizer != "sgd" or t.momentum <= 0):
        issues.append(ConfigIssue("train.nesterov", _("needs the sgd optimizer with momentum above 0")))
    if not bad & {"warmup_epochs", "epochs"} and t.warmup_epochs >= t.epochs:
        issues.append(ConfigIssue("train.warmup_epochs", _(
            "must be shorter than the run ({epochs} epochs), got {value}").format(
                epochs=t.epochs, value=f"{t.warmup_epochs:g}")))
    top = int(SETTINGS["seed"].spec.high or 0)
    if not bad & {"seed", "repeats"} and t.seed + t.repeats - 1 > top:
        issues.append(ConfigIssue("train.repeats", _("{repeats} seeds from {seed} go past the largest seed, {top}")
                                  .format(repeats=t.repeats, seed=t.seed, top=top)))
    return issues


def _value_issues(config: RunConfig) -> tuple[list[ConfigIssue], set[str]]:
    """Each setting's value on its own (type, range, choices), and the names of those that failed: the checks
    across settings leave those out rather than repeat the problem."""
    issues: list[ConfigIssue] = []
    bad: set[str] = set()
    for s in SETTINGS.values():
        if s.name == "blocks":
            continue
        problem = value_problem(s, config.get(s.name))
        if problem:
            issues.append(ConfigIssue(s.path, problem))
            bad.add(s.name)
    return issues, bad


def _network_issues(a: ArchConfig, bad: set[str]) -> list[ConfigIssue]:
    """Whether valid blocks make a network: one map per class for the global pool, an input large enough."""
    issues: list[ConfigIssue] = []
    if a.head == "gap" and "num_classes" not in bad and a.blocks[-1].out_channels != a.num_classes:
        issues.append(ConfigIssue(
            f"arch.blocks[{len(a.blocks) - 1}].out_channels",
            _("must equal num_classes ({classes}): in NiN the last block gives one map per class, got {value} "
              "(or choose the fc head)").format(classes=a.num_classes, value=a.blocks[-1].out_channels)))
    if not bad & {"resize", "pool_kernel", "pool_stride", "pointwise_convs", "head"}:
        problem = size_problem(a, a.resize)
        if problem:
            issues.append(ConfigIssue("arch.resize", problem))
    return issues


def _split_issues(t: TrainConfig) -> list[ConfigIssue]:
    """Whether the training images, beside the validation split, fill a batch for every process."""
    available = FASHION_MNIST_TRAIN - t.validation_size
    n_train = t.train_size or available
    if t.train_size is not None and t.train_size > available:
        return [ConfigIssue("train.train_size", _(
            "{count} is more than the {available} training images left beside {validation} for validation").format(
                count=t.train_size, available=available, validation=t.validation_size))]
    if t.batch_size > n_train:
        return [ConfigIssue("train.batch_size", _("{batch} is larger than the {count} training images").format(
            batch=t.batch_size, count=n_train))]
    if t.batch_size < t.processes:
        return [ConfigIssue("train.batch_size", _(
            "{batch} cannot be shared out over {processes} processes: each needs an image").format(
                batch=t.batch_size, processes=t.processes))]
    return []


# --- presets -----------------------------------------------------------------------------------

SEED = RunConfig()

# The best NiN a 2-core CPU trains in three minutes (docs/benchmarks.md: chosen on a validation split, then
# tested once): the chapter's design (blocks, 3/2 pools, global pool) sized for 28 px, with batch norm, Nesterov
# SGD on a one-cycle schedule, label smoothing, flips and shifts, and test-time flips. One 1×1 convolution a block
# and a 32-channel first block: at 28×28 a step spends most of its time there, and five epochs of the thinner
# network beat four of the wider one. No dropout: in five epochs with augmentation the network underfits.
CPU = RunConfig(
    arch=ArchConfig(
        blocks=(BlockConfig(32, 5, 1, 2), BlockConfig(96, 3, 1, 1), BlockConfig(128, 3, 1, 1),
                BlockConfig(10, 3, 1, 1)),
        resize=28, batch_norm=True, pointwise_convs=1, dropout=0.0,
    ),
    train=TrainConfig(lr=0.2, epochs=5, batch_size=128, optimizer="sgd", momentum=0.9, nesterov=True,
                      weight_decay=5e-4, schedule="onecycle", label_smoothing=0.1, augment="flip-shift", tta=True),
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

# The chapter's network at 224 px with what made later networks train well, for a GPU: batch norm after every
# convolution, Nesterov SGD on a one-cycle schedule, label smoothing and flips and shifts.
SEED_BN = SEED.with_overrides(batch_norm=True, schedule="onecycle", momentum=0.9, nesterov=True,
                              label_smoothing=0.1, augment="flip-shift", weight_decay=5e-4)

PRESETS: dict[str, RunConfig] = {"seed": SEED, "seed-bn": SEED_BN, "cpu": CPU, "tiny": TINY}

# After "92 %" (and "30 %" above) a no-break space: gettext would read "% i" and "% o" as placeholders.
PRESET_DESCRIPTIONS = {
    "seed": N_("Exactly the chapter: four blocks at 224 px, lr 0.1, 10 epochs, batch 128. Hours on a CPU, minutes on a "
               "GPU."),
    "cpu": N_("A NiN sized for 28 px with batch norm, a one-cycle schedule and augmentation: test accuracy above "
              "92 % in under three minutes on a 2-core CPU."),
    "tiny": N_("A quick look at training, on a small subset: seconds on any machine. It ends near 35 % test accuracy "
               "(chance is 10 %): a glimpse, not a useful model, which is what the cpu preset is for."),
    "seed-bn": N_("The chapter's network at 224 px with batch norm, a one-cycle schedule and augmentation: for a "
                  "GPU."),
}


def preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError([ConfigIssue("preset", _("unknown preset {name}; choose one of {presets}").format(
            name=repr(name), presets=", ".join(PRESETS)))]) from None

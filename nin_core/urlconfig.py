"""A configuration as URL query parameters, so a link reproduces the settings.

Only what differs from a preset goes in the link, human-readable and named as the settings are:
``?preset=cpu&lr=0.05&resize=32&blocks=48-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1``. Blocks are written
``out_channels-kernel_size-stride-padding`` (stride and padding may be left off: 1 and 0), sizes that mean
"the whole split" as ``all``. Reading a link never raises: a parameter that cannot be read is left out and
reported as a ConfigIssue, and values that read but are out of range stay, for the form to explain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from .config import PRESETS, ArchConfig, BlockConfig, ConfigIssue, RunConfig, TrainConfig

ARCH_PARAMS = tuple(f.name for f in fields(ArchConfig))
TRAIN_PARAMS = tuple(f.name for f in fields(TrainConfig))
PARAMS = ARCH_PARAMS + TRAIN_PARAMS  # the link's order: the network first, then its training
PRESET_PARAM = "preset"
CONFIG_KEYS = frozenset((PRESET_PARAM, *PARAMS))
ALL = "all"  # train_size / test_size: the whole split

_TYPES = {f.name: str(f.type) for f in (*fields(ArchConfig), *fields(TrainConfig))}


def default_preset() -> str:
    """The preset a new session starts from: the chapter's own (seed) with a CUDA GPU, else the CPU-sized one."""
    return "seed" if torch.cuda.is_available() else "cpu"


def get_setting(config: RunConfig, name: str) -> Any:
    return getattr(config.arch if name in ARCH_PARAMS else config.train, name)


def format_value(value: Any) -> str:
    """A setting's value as a person writes it: 0.05, 1e-05, 64, adamw, all, 48-5-1-2,96-3-1-1."""
    if value is None:
        return ALL
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, tuple) and all(isinstance(b, BlockConfig) for b in value):
        return ",".join(f"{b.out_channels}-{b.kernel_size}-{b.stride}-{b.padding}" for b in value)
    return str(value)


def differences(config: RunConfig, base: RunConfig) -> dict[str, Any]:
    """The settings (by name, in link order) whose value in ``config`` differs from ``base``."""
    return {name: get_setting(config, name) for name in PARAMS
            if get_setting(config, name) != get_setting(base, name)}


def closest_preset(config: RunConfig) -> str:
    """The preset that ``config`` differs least from (the first one on a tie)."""
    return min(PRESETS, key=lambda name: len(differences(config, PRESETS[name])))


def describe(config: RunConfig, preset: str | None = None) -> str:
    """A short name for a run: the preset and what was changed, e.g. ``cpu, lr=0.05, resize=32``."""
    preset = preset if preset in PRESETS else closest_preset(config)
    changed = differences(config, PRESETS[preset])
    return ", ".join([preset, *(f"{k}={format_value(v)}" for k, v in changed.items())])


def encode(config: RunConfig, preset: str | None = None) -> dict[str, str]:
    """Query parameters for ``config``: its preset, then only what differs from it."""
    preset = preset if preset in PRESETS else closest_preset(config)
    changed = differences(config, PRESETS[preset])
    out = {PRESET_PARAM: preset}
    for name, value in changed.items():
        out[name] = "" if name == "data_dir" and value is None else format_value(value)
    return out


@dataclass
class DecodedConfig:
    """What a link says: the configuration, its preset, and the parameters that could not be read (left out)."""

    config: RunConfig
    preset: str
    unreadable: list[ConfigIssue] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # parameters that are not settings (another page's)

    @property
    def issues(self) -> list[ConfigIssue]:
        """Everything wrong: parameters left out, then what validation finds in the result."""
        return self.unreadable + self.config.validate()


def has_config(params: Mapping[str, Any]) -> bool:
    return any(key in CONFIG_KEYS for key in params)


def _last(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value).strip()


def parse_blocks(text: str) -> tuple[tuple[BlockConfig, ...] | None, str | None]:
    """``48-5-1-2,96-3-1-1`` → blocks, or None and why not."""
    blocks = []
    parts = [p.strip() for p in text.split(",")]
    if not text.strip():
        return None, "gives no blocks"
    for i, part in enumerate(parts, start=1):
        numbers = part.split("-")
        if not 2 <= len(numbers) <= 4 or not all(n.strip().isdigit() for n in numbers):
            return None, (f"block {i} ({part!r}) must be out_channels-kernel_size-stride-padding in whole "
                          f"numbers, e.g. 96-3-1-1")
        values = [int(n) for n in numbers] + [1, 0][len(numbers) - 2:]
        blocks.append(BlockConfig(*values))
    return tuple(blocks), None


def parse_value(name: str, text: str) -> tuple[Any, str | None]:
    """One setting from its text (as in a link or a sweep list) → (value, None), or (None, why it cannot be read)."""
    if name == "blocks":
        return parse_blocks(text)
    kind = _TYPES[name]
    optional = kind.endswith("| None")
    base = kind.replace("| None", "").strip()
    if optional and (text.lower() == ALL or (name == "data_dir" and text == "")):
        return None, None
    if base == "str":
        return (text.lower() if name != "data_dir" else text), None
    if base == "int":
        try:
            number = float(text)
        except ValueError:
            return None, f"{text!r} is not a number"
        if not math.isfinite(number) or not number.is_integer():
            return None, f"{text!r} is not a whole number"
        return int(number), None
    try:
        number = float(text)
    except ValueError:
        return None, f"{text!r} is not a number"
    return number, None


def decode(params: Mapping[str, Any], default: str | None = None) -> DecodedConfig:
    """A configuration from query parameters: the preset (``default`` or default_preset() if none is given),
    with each setting in the link applied. Never raises."""
    unreadable: list[ConfigIssue] = []
    fallback = default if default in PRESETS else default_preset()
    preset = _last(params[PRESET_PARAM]).lower() if PRESET_PARAM in params else fallback
    if preset not in PRESETS:
        unreadable.append(ConfigIssue(PRESET_PARAM, f"unknown preset {preset!r} (choose {', '.join(PRESETS)}); "
                                                    f"used {fallback}"))
        preset = fallback
    overrides: dict[str, Any] = {}
    for name in PARAMS:
        if name not in params:
            continue
        value, problem = parse_value(name, _last(params[name]))
        if problem:
            unreadable.append(ConfigIssue(name, f"{problem}; left at {format_value(get_setting(PRESETS[preset], name))}"))
        else:
            overrides[name] = value
    ignored = [k for k in params if k not in CONFIG_KEYS]
    return DecodedConfig(PRESETS[preset].with_overrides(**overrides), preset, unreadable, ignored)

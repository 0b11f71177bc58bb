"""A configuration as URL query parameters, so a link reproduces the settings.

Only what differs from a preset goes in the link, human-readable and named as the settings are:
``?preset=cpu&lr=0.05&resize=32&blocks=48-5-1-2,96-3-1-1,128-3-1-1,10-3-1-1``. Blocks are written
``out_channels-kernel_size-stride-padding`` (stride and padding may be left off: 1 and 0), sizes that mean
"the whole split" as ``all``. Reading a link never raises: a parameter that cannot be read is left out and
reported as a ConfigIssue (in the language of the page reading the link), and values that read but are out of
range stay, for the form to explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from nin_core.i18n import _
from nin_core.network.config import PRESETS, SETTINGS, ConfigIssue, RunConfig, parse_setting
from nin_core.network.settings import format_value, shown

PARAMS = tuple(SETTINGS)  # the link's order: the network first, then its training
PRESET_PARAM = "preset"
CONFIG_KEYS = frozenset((PRESET_PARAM, *PARAMS))


def default_preset() -> str:
    """The preset a new session starts from: the chapter's own (seed) with a CUDA GPU, else the CPU-sized one."""
    return "seed" if torch.cuda.is_available() else "cpu"


def differences(config: RunConfig, base: RunConfig) -> dict[str, Any]:
    """The settings (by name, in link order) whose value in ``config`` differs from ``base``."""
    return {name: config.get(name) for name in PARAMS if config.get(name) != base.get(name)}


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


def decode(params: Mapping[str, Any], default: str | None = None) -> DecodedConfig:
    """A configuration from query parameters: the preset (``default`` or default_preset() if none is given),
    with each setting in the link applied. Never raises."""
    unreadable: list[ConfigIssue] = []
    fallback = default if default in PRESETS else default_preset()
    preset = _last(params[PRESET_PARAM]).lower() if PRESET_PARAM in params else fallback
    if preset not in PRESETS:
        unreadable.append(ConfigIssue(PRESET_PARAM, _("unknown preset {name} (choose {presets}); used {used}").format(
            name=shown(preset), presets=", ".join(PRESETS), used=fallback)))
        preset = fallback
    overrides: dict[str, Any] = {}
    for name in PARAMS:
        if name not in params:
            continue
        value, problem = parse_setting(name, _last(params[name]))
        if problem:
            unreadable.append(ConfigIssue(name, _("{problem}; left at {value}").format(
                problem=problem, value=format_value(PRESETS[preset].get(name)))))
        else:
            overrides[name] = value
    ignored = [k for k in params if k not in CONFIG_KEYS]
    return DecodedConfig(PRESETS[preset].with_overrides(**overrides), preset, unreadable, ignored)

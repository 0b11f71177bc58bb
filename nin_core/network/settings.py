"""One declaration per setting, and everything that follows from it.

A setting is a dataclass field of ``ArchConfig`` or ``TrainConfig`` declared with :func:`setting`, which keeps its
label, help, range or choices, group, whether a sweep may vary it, whether the chapter has it, what it changes in a
run and whether a step's time depends on it, next to its default. From that one declaration come the checks and
their messages, reading a value from text (a link, a CLI flag, a sweep list) and writing it back, the form's
widgets and what the time estimate times; the type is read from the annotation with ``typing.get_type_hints``.
No torch here: the configuration is checked before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from nin_core.i18n import _

GROUPS = ("network", "training", "data and device")
ALL = "all"  # an optional size left empty: the whole split
MAX_SHOWN = 40  # characters of a value echoed in a message (a link may carry 20,000)


class Effect(StrEnum):
    """What a setting changes in a run; tests/test_setting_effects.py holds every setting to what it declares."""

    MODEL = "model"  # the network's layers or its initial weights
    OPTIMIZER = "optimizer"  # the optimizer's kind or its hyperparameters
    SCHEDULE = "schedule"  # the learning rate at each step of the run, and how many steps there are
    LOSS = "loss"  # the loss a step computes from the same weights and the same batch
    DATA = "data"  # the images and labels of the training batches
    EVALUATION = "evaluation"  # which images are evaluated, and how each is predicted
    PLACE = "place"  # where the run computes (device, processes): the same numbers, elsewhere
    RUNS = "runs"  # how many runs a launch trains (one per seed), each of them unchanged


@dataclass(frozen=True)
class Spec:
    """What a person and the checks need to know about a setting, beside its type and default."""

    label: str
    help: str = ""
    group: str = "training"
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is not allowed
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    pattern: str | None = None  # a regular expression the text must match, and how to say it
    pattern_text: str = ""
    sweep: bool = False
    chapter: bool = True  # the chapter has this setting (False: beyond the chapter, default = the chapter's way)
    step: float | None = None  # the form's +/- step
    none_text: str = ""  # what "no value" means, for optional settings ("all 60,000")
    affects: tuple[Effect, ...] = ()  # what a value other than the default changes in a run
    timed: bool = False  # a training step's or an evaluation batch's time depends on it (the time estimate)


def setting(default: Any, **spec: Any) -> Any:
    """A dataclass field that is a setting: ``lr: float = setting(0.1, label="Learning rate", low=0, ...)``."""
    return dataclasses.field(default=default, metadata={"spec": Spec(**spec)})


@dataclass(frozen=True)
class Setting:
    """A declared setting as the surfaces use it."""

    name: str
    section: str  # "arch" or "train": where it lives in the configuration and its JSON
    kind: type  # int, float, bool, str, or tuple for the blocks
    optional: bool  # None is a value ("the whole split", "found automatically")
    default: Any
    spec: Spec

    @property
    def path(self) -> str:
        """The field's name in messages and JSON: ``train.lr``."""
        return f"{self.section}.{self.name}"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe_range(self) -> str:
        s = self.spec
        if s.choices:
            return _("one of {choices}").format(choices=", ".join(map(str, s.choices)))
        if s.low is None or s.high is None:  # a range has both ends or none (no setting has one end only)
            return ""
        if self.kind is int:
            return _("{low} to {high}").format(low=int(s.low), high=int(s.high))
        return f"{'(' if s.low_open else '['}{s.low:g}, {s.high:g}{')' if s.high_open else ']'}"


class Section(Protocol):
    """A dataclass of settings (``ArchConfig``, ``TrainConfig``): its fields, and where they live."""

    SECTION: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


def settings_of(*classes: type[Section]) -> dict[str, Setting]:
    """The settings declared in these dataclasses (section = the class's ``SECTION``), in declaration order."""
    found: dict[str, Setting] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("spec")
            if spec is None:
                continue
            kind, optional = _base_type(hints[f.name])
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                raise TypeError(f"setting {cls.__name__}.{f.name} has no default")
            found[f.name] = Setting(f.name, cls.SECTION, kind, optional, default, spec)
    return found


def _base_type(hint: Any) -> tuple[type, bool]:
    """``int | None`` → (int, True); ``tuple[BlockConfig, ...]`` → (tuple, False)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _base_type(rest[0])[0], True
    return (typing.get_origin(hint) or hint), False


# --- values and their messages ------------------------------------------------------------------------------

def shown(value: Any) -> str:
    """A value as a message echoes it: repr for text, capped (a 3,000-digit number is not worth repeating)."""
    return capped(repr(value) if isinstance(value, str) else format_value(value))


def capped(text: str) -> str:
    """``text`` as far as MAX_SHOWN characters, then how long it was."""
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"… ({len(text):,} characters)"


def type_problem(s: Setting, value: Any) -> str | None:
    """Why ``value`` is not of the setting's type (None when it is); ints stand for floats, bools for nothing."""
    if value is None and s.optional:
        return None
    if s.kind is bool:
        ok, what = isinstance(value, bool), _("true or false")
    elif s.kind is int:
        ok, what = isinstance(value, int) and not isinstance(value, bool), _("a whole number")
    elif s.kind is float:
        ok, what = isinstance(value, (int, float)) and not isinstance(value, bool), _("a number")
    elif s.kind is str:
        ok, what = isinstance(value, str), _("text")
    else:
        return None  # the blocks: checked by the configuration itself
    return None if ok else _must(what, shown(value))


def _must(what: str, got: Any) -> str:
    """The one shape of every value's problem: what it must be, and what it was."""
    return _("must be {what}, got {value}").format(what=what, value=got)


def value_problem(s: Setting, value: Any) -> str | None:
    """Why ``value`` cannot be used for the setting on its own (type, range, choices), or None."""
    problem = type_problem(s, value)
    if problem or value is None:
        return problem
    spec = s.spec
    if spec.choices and value not in spec.choices:
        return _must(s.describe_range(), shown(value))
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return _must(_(spec.pattern_text), shown(value))
    if s.kind is int and spec.low is not None and spec.high is not None and not spec.low <= value <= spec.high:
        return _("must be between {low} and {high}, got {value}").format(low=int(spec.low), high=int(spec.high),
                                                                        value=shown(value))
    if s.kind is float:
        if not math.isfinite(value):
            return _must(_("a finite number"), value)
        if spec.low is not None:
            too_low = value <= spec.low if spec.low_open else value < spec.low
            too_high = value >= spec.high if spec.high_open else value > spec.high
            if too_low or too_high:
                return _("must be in {range}, got {value}").format(range=s.describe_range(), value=f"{value:g}")
    return None


def from_json(s: Setting, value: Any) -> tuple[Any, str | None]:
    """A JSON value as the setting's type (a JSON int may stand for a float), or why it cannot be one."""
    problem = type_problem(s, value)
    if problem:
        return None, problem
    return (float(value) if s.kind is float and value is not None else value), None


def parse_text(s: Setting, text: str) -> tuple[Any, str | None]:
    """A value as a person writes it (a link, a CLI flag, a sweep list) → (value, None), or (None, why not).
    Only the type is checked here; the range is the configuration's to say, in the same words everywhere."""
    text = text.strip()
    if s.optional and (text.lower() in (ALL, "none") or text == ""):
        return None, None
    if s.kind is str:
        return (text if s.spec.pattern is None and not s.spec.choices else text.lower()), None
    if s.kind is bool:
        word = text.lower()
        if word in ("true", "yes", "on", "1"):
            return True, None
        if word in ("false", "no", "off", "0"):
            return False, None
        return None, _must(_("true or false"), shown(text))
    try:  # exact first: a whole number of any length stays exact
        number: float | int = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None, _must(_("a whole number") if s.kind is int else _("a number"), shown(text))
    if s.kind is int:
        if isinstance(number, float):
            if not math.isfinite(number) or not number.is_integer():
                return None, _must(_("a whole number"), shown(number))
            number = int(number)
        return number, None
    return float(number), None


def format_value(value: Any) -> str:
    """A value as a person writes it: 0.05, 1e-05, 64, adamw, true, all, 48-5-1-2,96-3-1-1."""
    if value is None:
        return ALL
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, tuple) and value and all(dataclasses.is_dataclass(b) for b in value):
        return ",".join("-".join(str(v) for v in dataclasses.astuple(b)) for b in value)
    return str(value)


def help_text(s: Setting) -> str:
    """The setting's help with its range, for a form field and a CLI flag."""
    parts = [_(s.spec.help)] if s.spec.help else []
    if s.describe_range():
        parts.append(f"{s.describe_range()}{' ' + s.spec.unit if s.spec.unit else ''}")
    if s.optional and s.spec.none_text:
        parts.append(_("empty: {meaning}").format(meaning=_(s.spec.none_text)))
    if not s.spec.chapter:
        parts.append(_("beyond the chapter; the chapter's way: {value}").format(value=format_value(s.default)))
    return _("; ").join(parts)

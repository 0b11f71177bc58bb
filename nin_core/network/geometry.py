"""The network's layers on paper: each one's window, and whether an input size fits. No torch here, so the
configuration can check a size without importing it; ``shapes`` runs the real layers beside these steps.

The configuration imports this module, so it reads an architecture through the protocols below rather than
importing ``config`` back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nin_core.i18n import N_, _, ngettext


class Block(Protocol):
    """What the geometry reads of a ``config.BlockConfig``."""

    @property
    def out_channels(self) -> int: ...
    @property
    def kernel_size(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def padding(self) -> int: ...


class ArchConfig(Protocol):
    """What the geometry reads of a ``config.ArchConfig``."""

    @property
    def blocks(self) -> Sequence[Block]: ...
    @property
    def pointwise_convs(self) -> int: ...
    @property
    def pointwise_kernel(self) -> int: ...
    @property
    def batch_norm(self) -> bool: ...
    @property
    def final_relu(self) -> bool: ...
    @property
    def dropout(self) -> float: ...
    @property
    def pool_kernel(self) -> int: ...
    @property
    def pool_stride(self) -> int: ...
    @property
    def head(self) -> str: ...
    @property
    def num_classes(self) -> int: ...

MAX_RESIZE = 1024
ORDINALS = (N_("first"), N_("second"), N_("third"), N_("fourth"), N_("fifth"), N_("sixth"), N_("seventh"),
            N_("eighth"), N_("ninth"), N_("tenth"))
COUNTS = {1: N_("one"), 2: N_("two"), 3: N_("three")}  # how many 1×1 convolutions a block has, in words


def ordinal(i: int) -> str:
    """The (i + 1)th, in the reader's language."""
    return _(ORDINALS[i]) if i < len(ORDINALS) else _("{number}th").format(number=i + 1)


@dataclass(frozen=True)
class Step:
    """One top-level layer of NiN as seen on paper: its window, and how it names itself in a message."""

    kind: str  # the class name the seed's loop prints
    label: str
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    window: str = ""  # for messages: "its 3×3 window"

    def out_size(self, n: int) -> int:
        if self.kind in ("Sequential", "MaxPool2d"):
            return (n + 2 * self.padding - self.kernel) // self.stride + 1
        return 1 if self.kind == "AdaptiveAvgPool2d" else n


def block_text(arch: ArchConfig, i: int) -> str:
    """What one block holds, e.g. ``5×5 conv, stride 1, pad 2, then two 1×1 convs, 256 ch, batch norm`` (in the
    reader's language)."""
    b = arch.blocks[i]
    k, n = arch.pointwise_kernel, arch.pointwise_convs
    then = _("then no {kernel} convs") if n == 0 else ngettext(
        "then {count} {kernel} conv", "then {count} {kernel} convs", n)
    text = _("{kernel} conv, stride {stride}, pad {padding}, {then}, {channels} ch").format(
        kernel=f"{b.kernel_size}×{b.kernel_size}", stride=b.stride, padding=b.padding,
        then=then.format(count=_(COUNTS[n]) if n in COUNTS else n, kernel=f"{k}×{k}"), channels=b.out_channels)
    extras = [_("batch norm")] if arch.batch_norm else []
    if i == len(arch.blocks) - 1 and not arch.final_relu:
        extras.append(_("no last ReLU"))
    for extra in extras:
        text = _("{description}, {extra}").format(description=text, extra=extra)
    return text


def steps(arch: ArchConfig) -> list[Step]:
    """The top-level layers, in the order ``NiN`` builds them."""
    out = []
    last = len(arch.blocks) - 1
    for i, b in enumerate(arch.blocks):
        if i == last:
            out.append(Step("Dropout", _("Dropout (p={p})").format(p=f"{arch.dropout:g}")))
        out.append(Step("Sequential", _("NiN block {number}: {layers}").format(number=i + 1,
                                                                                layers=block_text(arch, i)),
                        b.kernel_size, b.stride, b.padding,
                        _("the {ordinal} NiN block's {kernel} convolution").format(
                            ordinal=ordinal(i), kernel=f"{b.kernel_size}×{b.kernel_size}")))
        if i != last:
            out.append(Step("MaxPool2d", _("MaxPool2d {number}: {kernel}, stride {stride}").format(
                                number=i + 1, kernel=f"{arch.pool_kernel}×{arch.pool_kernel}",
                                stride=arch.pool_stride),
                            arch.pool_kernel, arch.pool_stride, 0,
                            _("the {ordinal} max-pool").format(ordinal=ordinal(i))))
    if arch.head == "fc":
        out += [Step("Flatten", "Flatten"),
                Step("Linear", _("Fully connected to {count} classes").format(count=arch.num_classes))]
    else:
        out += [Step("AdaptiveAvgPool2d", _("Global average pool")), Step("Flatten", "Flatten")]
    return out


def failure(step: Step, n: int) -> str | None:
    """Why ``step`` cannot take an n×n input, or None if it can."""
    if step.out_size(n) >= 1:
        return None
    side = n + 2 * step.padding
    padded = _(" (padded to {size})").format(size=f"{side}×{side}") if step.padding else ""
    return _("{layer} would get a {size} input{padded}, smaller than its {window} window").format(
        layer=step.window, size=f"{n}×{n}", padded=padded, window=f"{step.kernel}×{step.kernel}")


def walk(arch: ArchConfig, size: int) -> str | None:
    """Why an input of ``size`` px breaks the network, or None if every layer takes it."""
    n = size
    for step in steps(arch):
        reason = failure(step, n)
        if reason:
            return reason
        n = step.out_size(n)
    return None


def last_block_size(arch: ArchConfig, size: int) -> int:
    """The side of the last block's output for a ``size`` px input (what a fully connected head flattens)."""
    n = size
    for step in steps(arch):
        if step.kind in ("Flatten", "AdaptiveAvgPool2d"):
            break
        n = step.out_size(n)
    return n


def min_input_size(arch: ArchConfig) -> int | None:
    """The smallest square input (px) every layer accepts, or None if none up to MAX_RESIZE does."""
    # Each layer's output grows with its input, so the first size that fits is the answer.
    return next((n for n in range(1, MAX_RESIZE + 1) if walk(arch, n) is None), None)


def size_problem(arch: ArchConfig, size: int) -> str | None:
    """A message saying why ``size`` px is too small for ``arch``, or None if it fits."""
    reason = walk(arch, size)
    if reason is None:
        return None
    smallest = min_input_size(arch)
    need = (_("it needs at least {size} px").format(size=smallest) if smallest
            else _("no input up to {size} px fits it").format(size=MAX_RESIZE))
    return _("resize {size} is too small for this architecture: {need} ({reason})").format(size=size, need=need,
                                                                                          reason=reason)

"""The network's layers on paper: each one's window, and whether an input size fits. No torch here, so the
configuration can check a size without importing it; ``shapes`` runs the real layers beside these steps.

The configuration imports this module, so it reads an architecture through the protocols below rather than
importing ``config`` back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def ordinal(i: int) -> str:
    return ORDINALS[i] if i < len(ORDINALS) else f"{i + 1}th"


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
    """What one block holds, e.g. ``5×5 conv, stride 1, pad 2, then two 1×1 convs, 256 ch, batch norm``."""
    b = arch.blocks[i]
    k = arch.pointwise_kernel
    count = ("no", "one", "two", "three")[arch.pointwise_convs] if arch.pointwise_convs <= 3 else arch.pointwise_convs
    plural = "s" if arch.pointwise_convs != 1 else ""
    text = (f"{b.kernel_size}×{b.kernel_size} conv, stride {b.stride}, pad {b.padding}, then {count} {k}×{k} "
            f"conv{plural}, {b.out_channels} ch")
    extras = ["batch norm"] if arch.batch_norm else []
    if i == len(arch.blocks) - 1 and not arch.final_relu:
        extras.append("no last ReLU")
    return ", ".join([text, *extras])


def steps(arch: ArchConfig) -> list[Step]:
    """The top-level layers, in the order ``NiN`` builds them."""
    out = []
    last = len(arch.blocks) - 1
    for i, b in enumerate(arch.blocks):
        if i == last:
            out.append(Step("Dropout", f"Dropout (p={arch.dropout:g})"))
        out.append(Step("Sequential", f"NiN block {i + 1}: {block_text(arch, i)}", b.kernel_size, b.stride,
                        b.padding, f"the {ordinal(i)} NiN block's {b.kernel_size}×{b.kernel_size} convolution"))
        if i != last:
            out.append(Step("MaxPool2d", f"MaxPool2d {i + 1}: {arch.pool_kernel}×{arch.pool_kernel}, "
                                         f"stride {arch.pool_stride}",
                            arch.pool_kernel, arch.pool_stride, 0, f"the {ordinal(i)} max-pool"))
    if arch.head == "fc":
        out += [Step("Flatten", "Flatten"), Step("Linear", f"Fully connected to {arch.num_classes} classes")]
    else:
        out += [Step("AdaptiveAvgPool2d", "Global average pool"), Step("Flatten", "Flatten")]
    return out


def failure(step: Step, n: int) -> str | None:
    """Why ``step`` cannot take an n×n input, or None if it can."""
    if step.out_size(n) >= 1:
        return None
    padded = f" (padded to {n + 2 * step.padding}×{n + 2 * step.padding})" if step.padding else ""
    return (f"{step.window} would get a {n}×{n} input{padded}, smaller than its "
            f"{step.kernel}×{step.kernel} window")


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
    need = f"it needs at least {smallest} px" if smallest else f"no input up to {MAX_RESIZE} px fits it"
    return f"resize {size} is too small for this architecture: {need} ({reason})"

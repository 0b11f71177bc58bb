"""The per-layer shape table of a configuration: output shapes, parameters, multiply-adds, receptive fields.

Shapes come from running the real layers on PyTorch's ``meta`` device (no memory, no arithmetic), multiply-adds
from ``torch.utils.flop_counter``. Whether an input size fits is also worked out on paper, so that a
configuration that breaks gets the layer and the reason instead of a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .config import MAX_RESIZE, ArchConfig

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def _ordinal(i: int) -> str:
    return ORDINALS[i] if i < len(ORDINALS) else f"{i + 1}th"


@dataclass(frozen=True)
class _Step:
    """One layer as seen on paper: its window, and how it names itself in a message."""

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


def _steps(arch: ArchConfig) -> list[_Step]:
    steps = []
    last = len(arch.blocks) - 1
    for i, b in enumerate(arch.blocks):
        if i == last:
            steps.append(_Step("Dropout", f"Dropout (p={arch.dropout:g})"))
        steps.append(_Step(
            "Sequential",
            f"NiN block {i + 1}: {b.kernel_size}×{b.kernel_size} conv, stride {b.stride}, pad {b.padding}, "
            f"then two 1×1 convs, {b.out_channels} ch",
            b.kernel_size, b.stride, b.padding,
            f"the {_ordinal(i)} NiN block's {b.kernel_size}×{b.kernel_size} convolution"))
        if i != last:
            steps.append(_Step("MaxPool2d", f"MaxPool2d {i + 1}: {arch.pool_kernel}×{arch.pool_kernel}, "
                                            f"stride {arch.pool_stride}",
                               arch.pool_kernel, arch.pool_stride, 0, f"the {_ordinal(i)} max-pool"))
    steps += [_Step("AdaptiveAvgPool2d", "Global average pool"), _Step("Flatten", "Flatten")]
    return steps


def _failure(step: _Step, n: int) -> str | None:
    """Why ``step`` cannot take an n×n input, or None if it can."""
    if step.out_size(n) >= 1:
        return None
    padded = f" (padded to {n + 2 * step.padding}×{n + 2 * step.padding})" if step.padding else ""
    return (f"{step.window} would get a {n}×{n} input{padded}, smaller than its "
            f"{step.kernel}×{step.kernel} window")


def _walk(arch: ArchConfig, size: int) -> str | None:
    n = size
    for step in _steps(arch):
        reason = _failure(step, n)
        if reason:
            return reason
        n = step.out_size(n)
    return None


def min_input_size(arch: ArchConfig) -> int | None:
    """The smallest square input (px) every layer accepts, or None if none up to MAX_RESIZE does."""
    # Each layer's output grows with its input, so the first size that fits is the answer.
    return next((n for n in range(1, MAX_RESIZE + 1) if _walk(arch, n) is None), None)


def size_problem(arch: ArchConfig, size: int) -> str | None:
    """A message saying why ``size`` px is too small for ``arch``, or None if it fits."""
    reason = _walk(arch, size)
    if reason is None:
        return None
    smallest = min_input_size(arch)
    need = f"it needs at least {smallest} px" if smallest else f"no input up to {MAX_RESIZE} px fits it"
    return f"resize {size} is too small for this architecture: {need} ({reason})"


@dataclass(frozen=True)
class ShapeRow:
    index: int
    layer: str  # the class name, as the seed's printing loop shows it
    description: str
    output_shape: tuple[int, ...] | None
    params: int
    mult_adds: int
    receptive_field: int | None  # input pixels (per side) that one output position sees
    error: str | None = None


@dataclass
class ShapeTable:
    input_shape: tuple[int, ...]
    rows: list[ShapeRow] = field(default_factory=list)
    min_input_size: int | None = None

    @property
    def error(self) -> str | None:
        return self.rows[-1].error if self.rows and self.rows[-1].error else None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self.rows)

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.rows[-1].output_shape if self.ok and self.rows else None

    def records(self) -> list[dict]:
        return [{**asdict(r), "output_shape": list(r.output_shape) if r.output_shape else None} for r in self.rows]

    def to_json(self) -> str:
        return json.dumps({
            "input_shape": list(self.input_shape), "rows": self.records(), "error": self.error,
            "total_params": self.total_params, "total_mult_adds": self.total_mult_adds,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "min_input_size": self.min_input_size,
        }, indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(ShapeRow.__dataclass_fields__))
        writer.writeheader()
        for rec in self.records():
            writer.writerow({**rec, "output_shape": "x".join(map(str, rec["output_shape"] or []))})
        return out.getvalue()

    def to_text(self) -> str:
        header = ("#", "layer", "output shape", "params", "mult-adds", "RF", "description")
        lines = [(str(r.index), r.layer, str(list(r.output_shape)) if r.output_shape else "—", f"{r.params:,}",
                  f"{r.mult_adds:,}", str(r.receptive_field or "—"), r.description) for r in self.rows]
        widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header) - 1)]
        fmt = "  ".join(f"{{:{'>' if i in (0, 3, 4, 5) else '<'}{w}}}" for i, w in enumerate(widths)) + "  {}"
        out = [f"input {list(self.input_shape)}", fmt.format(*header)]
        out += [fmt.format(*line) for line in lines]
        if self.error:
            out.append(f"FAILS at layer {self.rows[-1].index}: {self.error}")
        else:
            out.append(f"total: {self.total_params:,} parameters, {self.total_mult_adds:,} multiply-adds per image")
        out.append(f"smallest valid input: {self.min_input_size} px" if self.min_input_size
                   else f"no input up to {MAX_RESIZE} px fits this architecture")
        return "\n".join(out)


def shape_table(arch: ArchConfig, size: int | None = None, batch: int = 1) -> ShapeTable:
    """The table for a ``batch``×in_channels×size×size input (size defaults to the configuration's resize)."""
    from .model import NiN  # model imports config only; kept local so importing shapes stays light

    size = arch.resize if size is None else size
    table = ShapeTable((batch, arch.in_channels, size, size), min_input_size=min_input_size(arch))
    with torch.device("meta"):
        model = NiN(arch).eval()
        x = torch.empty(table.input_shape)
    n, rf, jump = size, 1, 1
    for index, (layer, step) in enumerate(zip(model, _steps(arch))):
        params = sum(p.numel() for p in layer.parameters())
        reason = _failure(step, n)
        if reason is None:
            try:
                with FlopCounterMode(display=False) as counter:
                    x = layer(x)
            except Exception as e:  # noqa: BLE001 - any layer failure becomes the table's last row
                reason = str(e).strip().splitlines()[0]
        if reason is not None:
            table.rows.append(ShapeRow(index, step.kind, step.label, None, params, 0, None, reason))
            break
        rf += (step.kernel - 1) * jump
        jump *= step.stride
        n = step.out_size(n)
        is_global = isinstance(layer, (nn.AdaptiveAvgPool2d, nn.Flatten))
        table.rows.append(ShapeRow(index, step.kind, step.label, tuple(x.shape), params,
                                   counter.get_total_flops() // 2 // batch, max(rf, size) if is_global else rf))
    return table

"""The per-layer shape table of a configuration: output shapes, parameters, multiply-adds, receptive fields.

Shapes come from running the real layers on PyTorch's ``meta`` device (no memory, no arithmetic), multiply-adds
from ``torch.utils.flop_counter``. Whether an input size fits is also worked out on paper, so that a
configuration that breaks gets the layer and the reason instead of a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nin_core.i18n import N_, _, format_count, ngettext
from nin_core.network.config import ArchConfig
from nin_core.network.geometry import MAX_RESIZE, failure, last_block_size, min_input_size, size_problem, steps

if TYPE_CHECKING:
    from nin_core.network.memory import MemoryEstimate

__all__ = ["ShapeRow", "ShapeTable", "min_input_size", "shape_table", "size_problem"]

# The text table's columns after "#" (to_text), shown in the reader's language.
TEXT_COLUMNS = (N_("layer"), N_("output shape"), N_("params"), N_("mult-adds"), N_("RF"), N_("description"))


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
    # A training step's memory at a batch size and precision (memory.memory_estimate), when one is attached.
    memory: MemoryEstimate | None = None

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

    def activation_bytes(self, row: ShapeRow) -> int | None:
        """What ``row``'s layer keeps for the backward pass over the attached memory's batch (None: none attached)."""
        return self.memory.layer_batch_bytes(row.index) if self.memory else None

    def records(self) -> list[dict]:
        return [{**asdict(r), "output_shape": list(r.output_shape) if r.output_shape else None,
                 "activation_bytes": self.activation_bytes(r)} for r in self.rows]

    def to_json(self) -> str:
        return json.dumps({
            "input_shape": list(self.input_shape), "rows": self.records(), "error": self.error,
            "total_params": self.total_params, "total_mult_adds": self.total_mult_adds,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "min_input_size": self.min_input_size,
            "memory": self.memory and {"batch_size": self.memory.batch_size, "precision": self.memory.precision,
                                       "bytes": self.memory.totals()},
        }, indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*ShapeRow.__dataclass_fields__, "activation_bytes"])
        writer.writeheader()
        for rec in self.records():
            writer.writerow({**rec, "output_shape": "x".join(map(str, rec["output_shape"] or []))})
        return out.getvalue()

    def to_text(self) -> str:
        """The table as the CLI prints it, in the reader's language (the JSON and CSV keep English keys)."""
        header = ("#", *(_(name) for name in TEXT_COLUMNS))
        lines = [(str(r.index), r.layer, str(list(r.output_shape)) if r.output_shape else "—", f"{r.params:,}",
                  f"{r.mult_adds:,}", str(r.receptive_field or "—"), r.description) for r in self.rows]
        widths = [max(_width(x[i]) for x in [header, *lines]) for i in range(len(header) - 1)]

        def row(cells: tuple[str, ...]) -> str:  # numbers to the right; a Chinese character takes two columns
            padded = [" " * (w - _width(c)) + c if i in (0, 3, 4, 5) else c + " " * (w - _width(c))
                      for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
            return "  ".join([*padded, cells[-1]])

        out = [_("input {shape}").format(shape=list(self.input_shape)), row(header)]
        out += [row(line) for line in lines]
        if self.error:
            out.append(_("FAILS at layer {index}: {problem}").format(index=self.rows[-1].index, problem=self.error))
        else:
            out.append(_("total: {params} parameters, {mult_adds} multiply-adds per image").format(
                params=format_count(self.total_params), mult_adds=format_count(self.total_mult_adds)))
        if self.memory:
            from nin_core.network.memory import format_bytes

            m = self.memory
            named = {**{_(name): n for name, n in m.step_parts().items()}, _("training step"): m.train_bytes,
                     _("inference, one image"): m.inference_image_bytes,
                     ngettext("inference, {count} image", "inference, {count} images", m.batch_size).format(
                         count=m.batch_size): m.inference_batch_bytes}
            out.append(_("memory at batch {batch}, {precision}: {parts}").format(
                batch=m.batch_size, precision=m.precision,
                parts=_(", ").join(f"{name} {format_bytes(n)}" for name, n in named.items())))
        out.append(_("smallest valid input: {size} px").format(size=self.min_input_size) if self.min_input_size
                   else _("no input up to {size} px fits this architecture").format(size=MAX_RESIZE))
        return "\n".join(out)


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: two for a wide (Chinese) character."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def shape_table(arch: ArchConfig, size: int | None = None, batch: int = 1) -> ShapeTable:
    """The table for a ``batch``×in_channels×size×size input (size defaults to the configuration's resize)."""
    from nin_core.network.model import NiN  # model imports config only; kept local so importing shapes stays light

    size = arch.resize if size is None else size
    table = ShapeTable((batch, arch.in_channels, size, size), min_input_size=min_input_size(arch))
    with torch.device("meta"):
        model = NiN(arch).eval()
        x = torch.empty(table.input_shape)
    norm_elements: list[int] = []  # FlopCounterMode counts no batch norm: one multiply-add per output element
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda _module, _args, out: norm_elements.append(out.numel()))
    n, rf, jump = size, 1, 1
    for index, (layer, step) in enumerate(zip(model, steps(arch), strict=True)):
        params = sum(p.numel() for p in layer.parameters())
        reason = failure(step, n)
        if reason is None and isinstance(layer, nn.Linear) and n != last_block_size(arch, arch.resize):
            side = last_block_size(arch, arch.resize)
            reason = _("the fully connected head was built for {resize} px inputs (a {map} map), not {size} px").format(
                resize=arch.resize, map=f"{side}×{side}", size=size)
        if reason is None:
            norm_elements.clear()
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
                                   (counter.get_total_flops() // 2 + sum(norm_elements)) // batch,
                                   max(rf, size) if is_global else rf))
    return table

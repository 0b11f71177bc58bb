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
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nin_core.network.config import ArchConfig
from nin_core.network.geometry import MAX_RESIZE, failure, last_block_size, min_input_size, size_problem, steps

if TYPE_CHECKING:
    from nin_core.network.memory import MemoryEstimate

__all__ = ["ShapeRow", "ShapeTable", "min_input_size", "shape_table", "size_problem"]

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
        if self.memory:
            from nin_core.network.memory import format_bytes

            out.append(f"memory at batch {self.memory.batch_size}, {self.memory.precision}: " + ", ".join(
                f"{name} {format_bytes(n)}" for name, n in self.memory.totals().items()))
        out.append(f"smallest valid input: {self.min_input_size} px" if self.min_input_size
                   else f"no input up to {MAX_RESIZE} px fits this architecture")
        return "\n".join(out)


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
            reason = (f"the fully connected head was built for {arch.resize} px inputs (a "
                      f"{last_block_size(arch, arch.resize)}×{last_block_size(arch, arch.resize)} map), not {size} px")
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

"""Memory of a training step and of inference, worked out before anything is allocated: the real layers run on
PyTorch's ``meta`` device (shapes only), and forward hooks on every leaf layer give what autograd would keep.

A training step holds, at its peak (early in the backward pass):

- the parameters (and batch norm's running statistics), float32;
- their gradients, float32;
- the optimizer's state: none for SGD without momentum, one buffer per parameter with momentum, two for Adam
  and AdamW;
- the activations autograd saves for the backward pass, per image times the batch, in the precision the layers
  compute in (bf16 autocast: 2 bytes instead of 4): each convolution's and linear layer's input, each ReLU's
  output, each batch norm's input, each max-pool's input and indices (int64), dropout's mask. A tensor that two
  layers keep (a ReLU's output is the next convolution's input) counts once. Batch norm adds its batch
  statistics, and bf16 autocast its bf16 copies of the weights;
- the input and backward buffers: the gradients the backward pass works on at the widest layer (its output's and
  its input's at once), and under bf16 autocast the float32 batch beside the bf16 copy the first convolution
  keeps.

Inference holds the parameters and, at worst, one layer's input and output at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from nin_core.i18n import N_, _, ngettext
from nin_core.network.config import ConfigError, ConfigIssue, RunConfig
from nin_core.network.devices import device_label, resolve_device
from nin_core.network.geometry import size_problem
from nin_core.network.train import autocast_dtype, eval_batch_size

FLOAT32, BF16, INDEX = 4, 2, 8  # bytes per element: parameters and float32 activations, bf16, max-pool indices
# The global pool keeps nothing: pooling to 1×1 is a mean, whose backward needs only the input's shape.
SAVES_INPUT = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.MaxPool2d)
# Besides the step a run holds Python, torch and the data set (~50 MB), or a GPU's CUDA context: 0.65-0.75 GB
# of RSS on the CPU before its first step (docs/benchmarks.md), rounded up.
PROCESS_BYTES = 1_000_000_000
MARGIN = 1.25  # measured steps took up to 1.22× the estimate (docs/benchmarks.md): a batch said to fit must fit


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a configuration needs at one batch size and precision. ``layer_bytes``: what each top-level layer
    (each row of the shape table) keeps for the backward pass, for one image."""

    batch_size: int
    precision: str  # "float32" or "bf16": what the layers compute in
    layer_bytes: tuple[int, ...]
    params_bytes: int  # parameters and buffers (batch norm's running statistics)
    grads_bytes: int
    optimizer_bytes: int
    cast_weights_bytes: int  # bf16 autocast's copies of the weights, kept for the step
    stats_bytes: int  # batch norm's batch mean and inverse deviation, kept for the backward pass
    batch_image_bytes: int  # the float32 input of one image, when autocast keeps a bf16 copy of it instead
    peak_layer_bytes: int  # one image's largest input + output of a layer, in inference

    @property
    def image_bytes(self) -> int:
        """What a training step holds for one more image in the batch: its saved activations, its float32 input
        beside autocast's copy, and the gradients the backward pass works on at the widest layer (the output's
        and the input's at once)."""
        return sum(self.layer_bytes) + self.batch_image_bytes + self.peak_layer_bytes

    def layer_batch_bytes(self, index: int) -> int:
        """What layer ``index`` keeps for the backward pass over the whole batch."""
        return self.layer_bytes[index] * self.batch_size

    @property
    def step_fixed_bytes(self) -> int:
        """What a training step holds whatever its batch size."""
        return (self.params_bytes + self.grads_bytes + self.optimizer_bytes + self.cast_weights_bytes
                + self.stats_bytes)

    @property
    def activations_bytes(self) -> int:
        """What autograd keeps for the backward pass, at the batch size."""
        return self.batch_size * sum(self.layer_bytes) + self.cast_weights_bytes + self.stats_bytes

    def step_parts(self) -> dict[str, int]:
        """A training step at its peak, part by part (named in English; the Shapes page shows them translated)."""
        return {N_("parameters"): self.params_bytes, N_("gradients"): self.grads_bytes,
                N_("optimizer state"): self.optimizer_bytes, N_("saved activations"): self.activations_bytes,
                N_("input and backward buffers"): self.batch_size * (self.batch_image_bytes + self.peak_layer_bytes)}

    @property
    def train_bytes(self) -> int:
        return sum(self.step_parts().values())

    def inference_bytes(self, batch: int) -> int:
        """A forward pass without autograd over ``batch`` images."""
        return self.params_bytes + self.cast_weights_bytes + batch * self.peak_layer_bytes

    @property
    def inference_image_bytes(self) -> int:
        return self.inference_bytes(1)

    @property
    def inference_batch_bytes(self) -> int:
        return self.inference_bytes(self.batch_size)

    def totals(self) -> dict[str, int]:
        """The step's parts and the totals by name, as the Shapes page and the shape table's outputs show them."""
        return {**self.step_parts(), "training step": self.train_bytes,
                "inference, one image": self.inference_image_bytes,
                f"inference, {self.batch_size} images": self.inference_batch_bytes}

    def largest_batch(self, budget: int) -> int:
        """The largest batch whose training step fits in ``budget`` bytes (0: not even one image)."""
        return max(0, (budget - self.step_fixed_bytes) // self.image_bytes)


@dataclass(frozen=True)
class _Leaf:
    row: int  # the top-level layer it belongs to: the shape table's row
    module: nn.Module
    in_numel: int  # elements for one image
    out_numel: int
    in_pixels: int  # pixels per channel of its input (1 for a flat one)

    def aliases(self, training: bool) -> bool:
        """Whether its output is its input's memory: dropout that drops nothing (in inference, always), and
        flattening a 1×1 map. The Trainer lays batches out channels_last, so flattening a larger map copies it."""
        m = self.module
        if isinstance(m, nn.Dropout):
            return not training or m.p == 0
        return isinstance(m, nn.Flatten) and self.in_pixels == 1


def _leaves(model: nn.Sequential, x: torch.Tensor) -> list[_Leaf]:
    """Every leaf layer of ``model`` in the order the forward pass runs it, with its input and output sizes."""
    found: list[_Leaf] = []

    def record(row: int, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        found.append(_Leaf(row, module, args[0][0].numel(), out[0].numel(), args[0].shape[2:].numel()))

    handles = [m.register_forward_hook(partial(record, row))
               for row, top in enumerate(model) for m in top.modules() if next(m.children(), None) is None]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return found


def _saved_per_row(leaves: list[_Leaf], rows: int, act: int) -> list[int]:
    """Bytes each top-level layer keeps for the backward pass, for one image (NiN is a chain: each leaf's input
    is the previous leaf's output)."""
    out = [0] * rows
    kept = False  # whether the tensor between two leaves (the image, at first) is counted already
    for leaf in leaves:
        m = leaf.module
        if isinstance(m, SAVES_INPUT) and not kept:
            out[leaf.row] += act * leaf.in_numel
            kept = True
        if isinstance(m, nn.MaxPool2d):
            out[leaf.row] += INDEX * leaf.out_numel
        if leaf.aliases(training=True):
            continue
        if isinstance(m, nn.Dropout):  # its mask: the CPU keeps it in the activations' type (CUDA: one byte)
            out[leaf.row] += act * leaf.out_numel
        kept = isinstance(m, nn.ReLU)  # ReLU keeps its output; the others' outputs are new, not yet kept
        if kept:
            out[leaf.row] += act * leaf.out_numel
    return out


def resolve_precision(config: RunConfig, precision: str | None = None) -> str:
    """``float32`` or ``bf16``: what ``precision`` (the configuration's if None) computes in on the configured
    device, or on the CPU where that device is not here."""
    chosen = config.with_overrides(precision=precision or config.train.precision)
    try:
        device = resolve_device(config.train.device)
    except ConfigError:
        device = torch.device("cpu")
    return "bf16" if autocast_dtype(chosen, device) == torch.bfloat16 else "float32"


def memory_estimate(config: RunConfig, batch_size: int | None = None, precision: str | None = None) -> MemoryEstimate:
    """The memory of a training step and of inference for ``config`` at ``batch_size`` (the configuration's if
    None) and ``precision`` (``auto``, ``float32`` or ``bf16``; the configuration's if None). Nothing is
    allocated. A network its input size breaks has no estimate (ValueError)."""
    from nin_core.network.model import (
        NiN,  # as in shapes: model imports config only, kept local so this module stays light
    )

    arch, t = config.arch, config.train
    problem = size_problem(arch, arch.resize)
    if problem:
        raise ValueError(problem)
    batch = t.batch_size if batch_size is None else batch_size
    precision = resolve_precision(config, precision)
    act = BF16 if precision == "bf16" else FLOAT32
    with torch.device("meta"):
        model = NiN(arch).train()
        x = torch.empty(1, arch.in_channels, arch.resize, arch.resize)
    leaves = _leaves(model, x)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    states = 2 if t.optimizer in ("adam", "adamw") else int(t.momentum > 0)
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return MemoryEstimate(
        batch_size=batch, precision=precision, layer_bytes=tuple(_saved_per_row(leaves, len(model), act)),
        params_bytes=FLOAT32 * params + buffers, grads_bytes=FLOAT32 * params,
        optimizer_bytes=FLOAT32 * params * states,
        cast_weights_bytes=BF16 * weights if act == BF16 else 0,
        stats_bytes=sum(2 * FLOAT32 * m.num_features for m in norms),
        batch_image_bytes=FLOAT32 * x.numel() if act == BF16 else 0,
        peak_layer_bytes=max(act * (leaf.in_numel + (0 if leaf.aliases(training=False) else leaf.out_numel))
                             for leaf in leaves))


def format_bytes(n: float) -> str:
    """``812 B``, ``3.4 kB``, ``17.2 MB``, ``1.25 GB``, ``3.4 TB``: decimal units, three significant digits."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:,.3g} TB"


# --- will it fit? -----------------------------------------------------------------------------------------------

def device_memory(device: torch.device) -> tuple[int, str] | None:
    """The bytes a run may use on ``device`` and how to name them; None where that is not known (mps)."""
    if device.type == "cuda":
        # The whole GPU, not what is free now: a run training there holds memory, and this one waits for it.
        return torch.cuda.get_device_properties(device).total_memory, _("memory on {device}").format(
            device=device_label(device))
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, _("RAM available on this machine")
        except (OSError, ValueError, IndexError):
            pass
    return None


def memory_issue(config: RunConfig, device: torch.device) -> ConfigIssue | None:
    """A problem with ``train.batch_size`` when a training step or an evaluation would need more memory than
    ``device`` has, saying what to lower; None when it fits (or the device's memory is not known). ``config``
    must validate."""
    has = device_memory(device)
    if has is None:
        return None
    available, where = has
    t, resize = config.train, config.arch.resize
    per_process = math.ceil(t.batch_size / t.processes)  # each process of a distributed run takes its share
    found = memory_estimate(config, per_process)
    evaluation = found.inference_bytes(math.ceil(eval_batch_size(config) / t.processes))
    step = max(found.train_bytes, evaluation)
    need = MARGIN * step + PROCESS_BYTES
    if need <= available:
        return None
    if found.train_bytes >= evaluation:
        what = ngettext("a training step of {count} image at {resize} px",
                        "a training step of {count} images at {resize} px", per_process).format(
            count=per_process, resize=resize)
        fits = found.largest_batch(int((available - PROCESS_BYTES) / MARGIN)) * t.processes
        advice = (_("lower the batch size to {count} or less, or the resize").format(count=fits)
                  if fits >= t.processes else _("lower the resize: not even one image fits"))
    else:
        evaluated = eval_batch_size(config)
        what = ngettext("evaluating {count} image at a time at {resize} px",
                        "evaluating {count} images at a time at {resize} px", evaluated).format(
            count=evaluated, resize=resize)
        advice = _("lower the resize")
    return ConfigIssue("train.batch_size", _(
        "{what} needs about {step} ({need} with the process itself and a margin), more than the {available} of "
        "{where}: {advice}").format(what=what, step=format_bytes(step), need=format_bytes(need),
                                    available=format_bytes(available), where=where, advice=advice))

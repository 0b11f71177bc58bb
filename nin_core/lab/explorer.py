"""Look inside a trained NiN on one image: every layer's output with its statistics and dead channels, the class
maps and how the global average pool turns them into logits, the first layer's filters, a gradient saliency map;
and the pictures of all of them (numpy → PIL), for the dashboard and ``python -m nin_core inspect``.

Nothing here knows the layer structure: the model's top-level children are walked (the shape table's rows, one
each) and, inside a block, its leaf modules, so batch norm, other 1×1 convolutions or a fully connected head show
up as the configuration builds them.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from nin_core.i18n import N_, _, ngettext
from nin_core.network.charts import enlarge
from nin_core.network.predict import heat_colors, heat_map, overlay

CHANNEL_CAP = 32  # channels drawn per layer unless all are asked for: the seed's blocks have 96 to 384
COLUMNS = 16
GAP = 2  # px between tiles
RED = (220, 30, 30)
# The input's description (kept in English in the summary; the page shows it translated).
INPUT_DESCRIPTION = N_("the image as the model sees it")


@dataclass
class LayerOutput:
    """One layer's output for the image (the batch of one dropped from ``activation``, not from ``shape``)."""

    name: str  # "input", "3" (top-level layer 3, the shape table's row 3) or "3.2" (a layer inside it)
    kind: str  # the module's class name, as the shape table shows it
    description: str  # the module as PyTorch prints it
    shape: tuple[int, ...]
    minimum: float
    maximum: float
    mean: float
    zeros: float  # the fraction of values that are exactly zero
    dead: tuple[int, ...]  # channels that are zero everywhere, for this image
    activation: torch.Tensor
    has_parts: bool = False  # a block: its inner layers are listed (and drawn) just before it

    @property
    def top_level(self) -> bool:
        return self.name != "input" and "." not in self.name

    @property
    def index(self) -> int | None:
        """The top-level layer this output belongs to (None for the input)."""
        return None if self.name == "input" else int(self.name.split(".")[0])

    def channels(self) -> np.ndarray:
        """(channels, h, w), sharing the activation's memory: a flat output's values are channels of one pixel."""
        a = self.activation.numpy()
        return a if a.ndim == 3 else a.reshape(a.shape[0] if a.ndim else 1, 1, 1)

    def order(self) -> list[int]:
        """Channel indices, the most active (highest mean) first."""
        return np.argsort(-self.channels().mean(axis=(1, 2)), kind="stable").tolist()

    def caption(self) -> str:
        """Its shape and statistics, in the reader's language."""
        text = _("{shape} · values {low} to {high} · mean {mean} · {zeros} zeros").format(
            shape=list(self.shape), low=f"{self.minimum:.3g}", high=f"{self.maximum:.3g}", mean=f"{self.mean:.3g}",
            zeros=f"{self.zeros:.0%}")
        if self.dead:
            listed = ", ".join(f"#{c}" for c in self.dead[:12]) + (", …" if len(self.dead) > 12 else "")
            count = self.channels().shape[0]
            text += ngettext(" · {dead} of {count} channel all zero (dead here): {listed}",
                             " · {dead} of {count} channels all zero (dead here): {listed}", count).format(
                dead=len(self.dead), count=count, listed=listed)
        return text

    def summary(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description, "shape": list(self.shape),
                "min": self.minimum, "max": self.maximum, "mean": self.mean, "zeros": self.zeros,
                "dead_channels": list(self.dead)}


def _record(name: str, kind: str, description: str, output: torch.Tensor, has_parts: bool = False) -> LayerOutput:
    # A copy: a later in-place layer (ReLU(inplace=True)) must not rewrite what was recorded. The statistics are
    # numpy's: on tensors this small, each torch call costs more in thread hand-offs than in arithmetic.
    activation = output.detach()[0].float().cpu().clone()
    a = activation.numpy()
    flat = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
    dead = np.flatnonzero(~flat.any(axis=1)).tolist()
    return LayerOutput(name, kind, " ".join(description.split()), tuple(output.shape), float(a.min()), float(a.max()),
                       float(a.mean()), 1.0 - np.count_nonzero(a) / a.size, tuple(dead), activation, has_parts)


@dataclass
class Exploration:
    """Everything about one image's pass through the model."""

    layers: list[LayerOutput]  # the input, then in the order they ran: a block's inner layers, then the block
    logits: torch.Tensor  # (classes,)
    class_maps: torch.Tensor | None  # (classes, h, w): what the global average pool averages; None: fc head
    filters: torch.Tensor | None  # the first convolution's weights (out, in, k, k)
    saliency: torch.Tensor  # (H, W): |d predicted logit / d input|, the largest over the input's channels

    @property
    def top_level(self) -> list[LayerOutput]:
        """The outputs of the model's top-level layers: the shape table's rows."""
        return [layer for layer in self.layers if layer.top_level]

    @property
    def drawn(self) -> list[LayerOutput]:
        """What has a picture: every output but a block's own (its last inner layer's is the same)."""
        return [layer for layer in self.layers if not layer.has_parts]

    @property
    def predicted(self) -> int:
        return int(self.logits.argmax())

    @property
    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    @property
    def pooled(self) -> torch.Tensor | None:
        """Each class map's mean: the global average pool's output, which is the logits."""
        return None if self.class_maps is None else self.class_maps.mean(dim=(1, 2))


def _class_map_layer(children: list[nn.Module]) -> nn.Module | None:
    """The global average pool whose input is the class maps: one pooling to 1×1 with only parameter-free
    layers (flatten) after it. A fully connected head has none."""
    for i in range(len(children) - 1, -1, -1):
        child = children[i]
        if isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size in (1, (1, 1)):
            rest = children[i + 1:]
            return child if not any(p.numel() for c in rest for p in c.parameters()) else None
    return None


def explore(model: nn.Module, x: torch.Tensor) -> Exploration:
    """One forward pass (in eval mode, the model's mode restored after) of ``x`` (1×C×H×W, as ``Predictor.
    model_input`` makes it) recording every layer's output, and one backward pass for the saliency map."""
    children = dict(model.named_children())
    pool = _class_map_layer(list(children.values()))
    layers = [_record("input", "input", INPUT_DESCRIPTION, x)]
    maps: list[torch.Tensor] = []
    hooks = []

    def recorder(name: str, module: nn.Module, has_parts: bool):
        def record(m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            layers.append(_record(name, type(module).__name__, repr(module), output, has_parts))
        return record

    try:
        for name, child in children.items():
            for inner, module in child.named_modules(prefix=name):
                if inner != name and not any(module.children()):
                    hooks.append(module.register_forward_hook(recorder(inner, module, False)))
            hooks.append(child.register_forward_hook(recorder(name, child, any(child.children()))))
        if pool is not None:
            hooks.append(pool.register_forward_pre_hook(lambda m, inputs: maps.append(inputs[0].detach()[0])))
        training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                source = x.detach().clone().requires_grad_(True)
                logits = model(source)[0]
                (grad,) = torch.autograd.grad(logits[logits.argmax()], source)
        finally:
            model.train(training)
    finally:
        for hook in hooks:
            hook.remove()
    logits = logits.detach().float().cpu()
    class_maps = maps[0].float().cpu() if maps and maps[0].shape[0] == logits.numel() else None
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    filters = first_conv.weight.detach().float().cpu().clone() if first_conv is not None else None
    return Exploration(layers, logits, class_maps, filters, grad[0].abs().amax(dim=0).float().cpu())


# --- pictures -------------------------------------------------------------------------------------------------

_FONT = ImageFont.load_default(size=12)
_LABEL_HEIGHT = 15
TEXT = (40, 40, 40)


@functools.lru_cache(maxsize=2048)
def _label(text: str) -> Image.Image:
    """The text as a mask, rendered once: the same channel numbers label every layer."""
    mask = Image.new("L", (math.ceil(_FONT.getlength(text)) + 2, _LABEL_HEIGHT), 0)
    ImageDraw.Draw(mask).text((0, 1), text, fill=255, font=_FONT)
    return mask


def _grey(values: np.ndarray) -> np.ndarray:
    level = (np.clip(values, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=-1)


def grid(tiles: np.ndarray, low: float, high: float, *, labels: list[str] | None = None,
         marked: frozenset[int] | set[int] = frozenset(), colors=heat_colors, columns: int = COLUMNS,
         min_side: int = 48) -> Image.Image:
    """Tiles (n, h, w) on one scale from ``low`` to ``high``, each enlarged with crisp pixels to at least
    ``min_side``, in rows of ``columns``, each with its label under it; ``marked`` tiles get a red frame."""
    n, h, w = tiles.shape
    scale = max(1, math.ceil(min_side / max(h, w)))
    values = (tiles - low) / (high - low) if high > low else np.zeros_like(tiles)
    rgb = colors(values).repeat(scale, axis=1).repeat(scale, axis=2)
    tile_w, tile_h = w * scale, h * scale
    label_h = _LABEL_HEIGHT if labels else 0
    masks = [_label(text) for text in labels or []]
    cell_w = max([tile_w] + [mask.width for mask in masks]) + GAP
    cell_h = tile_h + label_h + GAP
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    canvas = np.full((rows * cell_h - GAP, cols * cell_w - GAP, 3), 255, np.uint8)
    for i in range(n):
        y, x = (i // cols) * cell_h, (i % cols) * cell_w
        canvas[y:y + tile_h, x:x + tile_w] = rgb[i]
    image = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(image)
    for i in range(n):
        y, x = (i // cols) * cell_h, (i % cols) * cell_w
        if i in marked:
            draw.rectangle((x, y, x + tile_w - 1, y + tile_h - 1), outline=RED, width=max(1, min(2, tile_w // 16)))
        if masks:
            image.paste(RED if i in marked else TEXT, (x, y + tile_h), masks[i])
    return image


def layer_picture(layer: LayerOutput, limit: int | None = CHANNEL_CAP) -> Image.Image:
    """The layer's channels, most active first (``limit`` of them; None: all), on the layer's own range; dead
    channels framed in red. One-pixel channels (a pooled or flat output) are labelled with their value."""
    channels = layer.channels()
    chosen = layer.order()[:limit]
    one_pixel = channels.shape[1] * channels.shape[2] == 1
    labels = [f"#{c} {float(channels[c, 0, 0]):.2f}" if one_pixel else f"#{c}" for c in chosen]
    dead = set(layer.dead)
    return grid(channels[chosen], layer.minimum, layer.maximum, labels=labels,
                marked={i for i, c in enumerate(chosen) if c in dead})


def class_maps_picture(result: Exploration, class_names: tuple[str, ...]) -> Image.Image | None:
    """Every class's map side by side on one scale, each labelled with its mean (= its logit); dead ones framed."""
    class_maps, pooled = result.class_maps, result.pooled
    if class_maps is None or pooled is None:  # both or neither: the pool's output is the maps' means
        return None
    maps = class_maps.numpy()
    labels = [f"{name} {value:.2f}" for name, value in zip(class_names, pooled.tolist(), strict=True)]
    dead = set(np.flatnonzero(~maps.any(axis=(1, 2))).tolist())
    return grid(maps, float(maps.min()), float(maps.max()), labels=labels, marked=dead, columns=len(maps),
                min_side=72)


def filters_picture(result: Exploration) -> Image.Image | None:
    """The first convolution's filters in grey, zero mid-grey, all on one scale. Summed over the input channels:
    a greyscale image is fed on every channel alike, so the sum is what each filter does to the picture."""
    if result.filters is None:
        return None
    filters = result.filters.sum(dim=1).numpy()
    top = float(np.abs(filters).max()) or 1.0
    return grid(filters, -top, top, labels=[f"#{i}" for i in range(len(filters))], colors=_grey, min_side=40)


def class_map_overlay(result: Exploration, view: Image.Image) -> Image.Image | None:
    """The predicted class's map over the model view (as the Predict page draws it)."""
    if result.class_maps is None:
        return None
    return overlay(view, heat_map(result.class_maps[result.predicted], view.width))


def saliency_overlay(result: Exploration, view: Image.Image) -> Image.Image:
    return overlay(view, heat_map(result.saliency, view.width))


def write_pictures(result: Exploration, view: Image.Image, class_names: tuple[str, ...], out: Path,
                   about: dict | None = None) -> dict:
    """Every picture as a PNG in ``out`` (all channels of every layer) and ``summary.json`` (starting with
    ``about``: where the image and the model came from); returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    pictures = {"view.png": view, "class_map.png": class_map_overlay(result, view),
                "saliency.png": saliency_overlay(result, view),
                "class_maps.png": class_maps_picture(result, class_names), "filters.png": filters_picture(result)}
    files = {}
    for i, layer in enumerate(result.drawn):
        files[layer.name] = f"layer-{i:02d}-{layer.name}-{layer.kind}.png"
        pictures[files[layer.name]] = layer_picture(layer, limit=None)
    for name, picture in pictures.items():
        if picture is not None:
            enlarge(picture).save(out / name)
    records, shown = [], None
    for layer in result.layers:  # a block comes right after its inner layers: its picture is the last one's
        shown = files.get(layer.name, shown)
        records.append(layer.summary() | {"picture": shown})
    summary = {
        **(about or {}),
        "predicted": class_names[result.predicted],
        "probabilities": dict(zip(class_names, result.probabilities.tolist(), strict=True)),
        "logits": result.logits.tolist(),
        "class_maps_pooled": None if result.pooled is None else result.pooled.tolist(),
        "pictures": sorted(name for name, picture in pictures.items() if picture is not None),
        "layers": records,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary

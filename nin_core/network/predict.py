"""A person's own images classified by a trained NiN: robust decoding, Fashion-MNIST-like preprocessing, top-k
classes and the predicted class's activation map from one forward pass.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from nin_core.i18n import _
from nin_core.network.checkpoint import load_model
from nin_core.network.config import RunConfig
from nin_core.network.model import NiN, predict_logits

# Refused before any pixel is decoded: a 40 MP greyscale image is already 40 MB, and a few hundred bytes of PNG
# can claim gigapixels.
MAX_PIXELS = 40_000_000
# The formats an upload may be: common raster formats only. Others PIL knows are refused unread; EPS above all,
# which PIL renders by running Ghostscript on the file.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "DIB", "WEBP", "TIFF", "AVIF", "ICO", "PPM", "TGA")
# Wide (16/32-bit) and transparent images are converted in bands of this many pixels, so memory stays bounded.
BAND_PIXELS = 1 << 20


class ImageError(ValueError):
    """An uploaded file that cannot be used as an image; the message names the file and says why in one line."""


def _one_line(text: object, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


def load_image(data: bytes, name: str = "image", *, size_hint: int | None = None) -> Image.Image:
    """Decode an uploaded file (any format PIL reads, any size or mode) to an upright 8-bit greyscale image.

    Animated images give their first frame (their ``info["frames"]`` says how many they had). ``size_hint``: the
    side the image will be resized to; JPEGs are then decoded at a reduced scale no smaller than it (libjpeg's DCT
    scaling), which is many times faster for photos.
    """
    name = _one_line(name, 100) or "image"
    if not data:
        raise ImageError(_("{name} is empty").format(name=name))
    try:
        with warnings.catch_warnings():
            # PIL only warns between its own limit and twice it; make that a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageError(_("{name} is {width}×{height} pixels: images over {limit} megapixels are refused")
                             .format(name=name, width=width, height=height, limit=MAX_PIXELS // 1_000_000))
        if size_hint:
            img.draft("L", (size_hint, size_hint))  # a no-op for formats other than JPEG
        img.load()  # decode now, inside the try, so truncated files fail here
        ImageOps.exif_transpose(img, in_place=True)
        gray = to_gray(img)
        gray.info["frames"] = getattr(img, "n_frames", 1)
        return gray
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(_("{name} claims more than {limit} megapixels and is refused (possible decompression bomb)")
                         .format(name=name, limit=MAX_PIXELS // 1_000_000)) from None
    except UnidentifiedImageError:
        raise ImageError(_("{name} is not an image this program can read (PNG, JPEG, GIF, BMP or WebP)")
                         .format(name=name)) from None
    except Exception as e:  # noqa: BLE001 - every decoder failure gets the same one-line answer
        raise ImageError(_("{name} could not be decoded; it may be damaged or truncated ({why})")
                         .format(name=name, why=_one_line(e) or type(e).__name__)) from None


def to_gray(img: Image.Image) -> Image.Image:
    """8-bit greyscale ('L') from any mode: wide modes scaled (PIL's own conversion clips), transparency flattened."""
    if img.mode == "L" and not img.has_transparency_data:
        return img
    if img.mode.startswith("I") or img.mode == "F":
        return _scale_wide(img)
    if img.has_transparency_data:
        return _flatten_alpha(img)
    try:
        return img.convert("L")
    except ValueError:  # modes PIL cannot take to L directly (LAB, HSV)
        return img.convert("RGB").convert("L")


def _bands(img: Image.Image):
    """The image in horizontal bands of about BAND_PIXELS pixels: (first row, band as its own small image)."""
    rows = max(1, BAND_PIXELS // max(1, img.width))
    for y in range(0, img.height, rows):
        yield y, img.crop((0, y, img.width, min(img.height, y + rows)))


def _scale_wide(img: Image.Image) -> Image.Image:
    """16/32-bit and float images to 0..255: 'I;16' spans 0..65535; 'I' and 'F' hold 8- or 16-bit data or other.
    Converted a band at a time: a whole-image float copy of a 40 MP picture would take hundreds of MB."""
    if img.mode.startswith("I;16"):
        top = 65535.0
    else:
        peaks = [np.asarray(band, dtype=np.float32).max() for _, band in _bands(img) if band.width * band.height]
        peak = float(np.max(peaks)) if peaks else 0.0
        top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
    out = np.empty((img.height, img.width), dtype=np.uint8)
    for y, band in _bands(img):
        a = np.asarray(band, dtype=np.float32)
        out[y:y + a.shape[0]] = (np.clip(a, 0, top) * (255.0 / top) + 0.5).astype(np.uint8)
    return Image.fromarray(out, "L")


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Transparent pixels become background: the shade that contrasts with the opaque item, so a light item on a
    transparent background lands on black and a dark one on white (which the automatic inversion then flips).
    Done a band at a time (one pass to find the item's shade, one to composite), so a large transparent picture
    never needs a full RGBA, float or channel copy besides itself and the result."""
    def gray_and_alpha(band: Image.Image) -> tuple[Image.Image, Image.Image]:
        rgba = band if band.mode in ("LA", "RGBA") else band.convert("RGBA")
        return rgba.convert("L"), rgba.getchannel("A")

    weighted = total = 0
    for _name, band in _bands(img):
        gray, alpha = gray_and_alpha(band)
        weights = np.asarray(alpha, dtype=np.int64)
        total += int(weights.sum())
        weighted += int((np.asarray(gray, dtype=np.int64) * weights).sum())
    item = weighted / total if total else 0.0
    shade = 0 if item > 127.5 else 255
    out = Image.new("L", img.size, shade)
    for y, band in _bands(img):
        gray, alpha = gray_and_alpha(band)
        out.paste(gray, (0, y), alpha)  # what Image.composite(gray, background, alpha) does
    return out


def prepare(image: Image.Image, size: int, invert: bool | None = None) -> tuple[torch.Tensor, Image.Image, bool]:
    """What the model sees: greyscale, aspect kept by padding to a square with the background shade, size×size,
    light on dark as Fashion-MNIST is. ``invert=None`` inverts when the background (the border) is light.

    Returns the (1, 1, size, size) float tensor in [0, 1], that image as PIL 'L', and whether it was inverted.
    """
    gray = to_gray(image)
    # Resize first and pad after: the same picture as padding then resizing, without a huge square canvas.
    width, height = gray.size
    scale = size / max(width, height)
    fitted = gray.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                         Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = np.asarray(fitted)
    border = np.concatenate((pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]))
    background = int(np.median(border))
    if fitted.size == (size, size):
        view = fitted
    else:
        view = Image.new("L", (size, size), background)
        view.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    inverted = background > 127 if invert is None else bool(invert)
    if inverted:
        view = ImageOps.invert(view)
    tensor = torch.from_numpy(np.array(view, dtype=np.float32)).div_(255.0).view(1, 1, size, size)
    return tensor, view, inverted


@dataclass
class Prediction:
    """One image's result; when it failed only ``name`` and ``error`` are set."""

    name: str
    top_k: list[tuple[str, float]] = field(default_factory=list)
    predicted: int | None = None
    probabilities: list[float] = field(default_factory=list)
    model_view: Image.Image | None = None
    inverted: bool = False
    # The predicted class's channel of the last block, upsampled to the model view and min-max normalised.
    class_map: np.ndarray | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # what to know about the image before trusting the answer


def image_notes(image: Image.Image, size: int) -> list[str]:
    """What a person should know about an image before reading its prediction: that it is far smaller than the
    model's input (enlarged, it holds too little to recognise), or animated (only its first frame is used)."""
    notes = []
    width, height = image.size
    if max(width, height) < size / 2 or min(width, height) < 4:
        notes.append(_("The image is only {width}×{height} pixels, enlarged to {size}×{size}: too little to "
                       "recognise a garment, so the answer means little.").format(width=width, height=height,
                                                                                  size=size))
    frames = image.info.get("frames", 1)
    if frames > 1:
        notes.append(_("The image is animated ({frames} frames): only its first frame was used.").format(frames=frames))
    return notes


class Predictor:
    """A trained NiN ready to classify images, in eval mode on its device."""

    def __init__(self, model: NiN, config: RunConfig, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        arch = config.arch
        self.size, self.in_channels, self.num_classes = arch.resize, arch.in_channels, arch.num_classes
        from nin_core.network.data import class_names  # data pulls in the dataset machinery: only import it when used

        self.class_names = class_names(self.num_classes)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> Predictor:
        model, config, _ = load_model(path, device)
        return cls(model, config, device)

    def _check_top_k(self, top_k: int) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= self.num_classes:
            raise ValueError(f"top_k must be a whole number from 1 to {self.num_classes}, got {top_k!r}")

    def model_input(self, image: Image.Image, invert: bool | None = None) -> tuple[torch.Tensor, Image.Image, bool]:
        """``prepare``'s tensor as the model takes it (its channels, its device), the model view, whether inverted."""
        tensor, view, inverted = prepare(image, self.size, invert)
        # A greyscale image fed to a model built for more channels: the same picture on every channel (a view).
        return tensor.expand(1, self.in_channels, self.size, self.size).to(self.device), view, inverted

    def predict(self, image: Image.Image, name: str = "image", top_k: int = 3,
                invert: bool | None = None) -> Prediction:
        self._check_top_k(top_k)
        x, view, inverted = self.model_input(image, invert)
        with torch.inference_mode():
            logits, maps = self.model.forward_with_maps(x)
            if self.config.train.tta:  # as the run's test accuracy counts: the image and its mirror, averaged
                logits = predict_logits(self.model, x, tta=True)
            probs = torch.softmax(logits[0].float(), dim=0)
            predicted = int(probs.argmax())
            top_p, top_i = probs.topk(top_k)
            probabilities = probs.cpu().tolist()
            class_map = heat_map(maps[0, predicted], self.size)
        return Prediction(
            name=name,
            top_k=[(self.class_names[i], p) for i, p in zip(top_i.tolist(), top_p.tolist(), strict=True)],
            predicted=predicted, probabilities=probabilities, model_view=view, inverted=inverted,
            class_map=class_map, notes=image_notes(image, self.size))

    def predict_files(self, files: list[tuple[str, bytes]], top_k: int = 3,
                      invert: bool | None = None) -> list[Prediction]:
        """Each (name, bytes) on its own: a file that cannot be read gives a Prediction with ``error`` set."""
        self._check_top_k(top_k)
        results = []
        for name, data in files:
            try:
                image = load_image(data, name, size_hint=self.size)
            except ImageError as e:
                results.append(Prediction(name=name, error=str(e)))
                continue
            results.append(self.predict(image, name, top_k, invert))
        return results


def _colormap() -> np.ndarray:
    """A 256×3 uint8 jet-like ramp (dark blue → cyan → yellow → dark red), built once."""
    stops = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])
    colors = np.array([(0, 0, .5), (0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0), (.5, 0, 0)])
    ramp = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(ramp, stops, colors[:, c]) * 255 + 0.5 for c in range(3)], axis=1).astype(np.uint8)


_HEAT = _colormap()


def heat_colors(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) as the heat map's RGB colours: uint8, one more axis of 3."""
    return _HEAT[(np.clip(values, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)]


def heat_map(values: torch.Tensor, size: int) -> np.ndarray:
    """A 2-D map (a class map, a saliency map) upsampled to size×size and min-max normalised to [0, 1], as
    ``overlay`` draws it; a constant map is all zeros."""
    heat = F.interpolate(values.detach().float()[None, None], size=(size, size), mode="bilinear",
                         align_corners=False)[0, 0]
    low, high = heat.min(), heat.max()
    heat = (heat - low) / (high - low) if high > low else torch.zeros_like(heat)
    return heat.cpu().numpy().astype(np.float32, copy=False)


def overlay(model_view: Image.Image, class_map: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The class map as a heat map blended over the model view (RGB, the view's size); ``alpha`` is the heat's
    weight."""
    width, height = model_view.size
    if class_map.shape != (height, width):
        raise ValueError(f"class_map is {class_map.shape[::-1]} but the model view is {width}×{height}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    heat = Image.fromarray(heat_colors(class_map), "RGB")
    return Image.blend(model_view.convert("RGB"), heat, alpha)

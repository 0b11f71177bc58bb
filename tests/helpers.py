"""Test helpers shared by several test files: images made on the spot, and a finished run to predict with."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from conftest import APP
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from nin_core.network.config import TINY, RunConfig
from nin_core.runs.store import RunStore


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def item(size=(40, 40), fg=230, bg=0, mode="L") -> Image.Image:
    """A light (or dark) centred shape on a plain background, like a Fashion-MNIST item."""
    img = Image.new(mode, size, bg)
    w, h = size
    ImageDraw.Draw(img).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=fg)
    return img


def noise(size=(64, 64), mode="L") -> Image.Image:
    channels = len(Image.new(mode, (1, 1)).getbands())
    arr = np.random.default_rng(0).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR (with a correct CRC) claims width×height: a decompression bomb's header."""
    data = bytearray(encode(Image.new("1", (1, 1))))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


def finished_run(home: Path, checkpoint: Path, name: str = "tiny", config: RunConfig = TINY) -> int:
    """A finished run (of the tiny preset unless ``config`` says otherwise) in the store at ``home``, using
    ``checkpoint``."""
    store = RunStore(home)
    run_id = store.create_run(config, name)
    store.set_checkpoint(run_id, checkpoint)
    store.finish(run_id, "finished", final={"train_loss": 2.0, "train_acc": 0.3, "test_acc": 0.25})
    return run_id


def predict_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/predict.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at

"""Issue #5, uploads: whatever is on a person's disk, in one batch, on the Predict page and through the CLI.

Every file of a corpus of bad and odd files (generated here) gets either a prediction or a one-line message, the
same message on the page and from the CLI; the good files of the batch still get their predictions; memory stays
bounded; the page still predicts a normal upload afterwards. tests/test_predict.py covers the library file by file;
this covers the two ways in, with the whole corpus at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, rendered
from helpers import encode, finished_run, item, noise, png_claiming, predict_page
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.model import build_model

MB = 1 << 20
MEMORY_BOUND = 300 * MB  # RSS growth allowed for predicting the whole corpus, bomb and 40 MP files included
pytestmark = pytest.mark.usefixtures("no_demo")  # whether or not the demo model is there


# --- the corpus -----------------------------------------------------------------------------------------------------









def exif_rotated() -> bytes:
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 255, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display, as phones write it
    return encode(stored, "JPEG", exif=exif.tobytes())


def large_photo() -> bytes:
    """A 24-megapixel camera-sized JPEG with texture (several MB, like a phone photo)."""
    small = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    return encode(Image.fromarray(small).resize((6000, 4000), Image.Resampling.BICUBIC), "JPEG", quality=85)


def wide_canvas(mode: str) -> bytes:
    """A file of a few KB that decodes to 39 megapixels of 16-bit grey or RGBA: just under the pixel limit."""
    if mode == "I;16":
        arr = np.zeros((6000, 6500), np.uint16)
        arr[1000:5000, 1500:5000] = 50000
        return encode(Image.fromarray(arr))
    img = Image.new("RGBA", (6500, 6000), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((1500, 1000, 5000, 5000), fill=(200, 120, 40, 255))
    return encode(img)


def eps() -> bytes:
    """PostScript: PIL would hand it to Ghostscript to render."""
    return encode(Image.new("L", (20, 20), 128), "EPS")


def animated_gif() -> bytes:
    frames = [item(fg=255), Image.new("L", (40, 40), 255), item(fg=128)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


OK, REFUSED, EITHER = "prediction", "message", "either"


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bytes, str, str]]:
    """(file name, bytes, what it must get, the words its message must hold)."""
    noisy_png, noisy_jpeg = encode(noise()), encode(noise((64, 64), "RGB"), "JPEG")
    deep = np.zeros((56, 40), np.uint16)
    deep[10:46, 10:30] = 60000
    return [
        ("empty.png", b"", REFUSED, "is empty"),
        ("notes.png", b"shopping list:\n- milk\n- a new shirt\n", REFUSED, "not an image"),
        ("truncated.png", noisy_png[:len(noisy_png) // 2], REFUSED, "damaged or truncated"),
        ("truncated.jpg", noisy_jpeg[:len(noisy_jpeg) // 2], REFUSED, "damaged or truncated"),
        ("bomb.png", png_claiming(30000, 30000), REFUSED, "megapixels"),
        ("postscript.png", eps(), REFUSED, "not an image"),
        ("deep-16bit.png", encode(Image.fromarray(deep)), OK, ""),
        ("cmyk.jpg", encode(item(mode="CMYK", fg=(0, 0, 0, 255), bg=(0, 0, 0, 0)), "JPEG"), OK, ""),
        ("palette.png", encode(item(mode="RGB", fg=(250, 200, 0)).convert("P")), OK, ""),
        ("palette-transparent.gif",
         encode(item(mode="RGBA", fg=(250, 200, 0, 255), bg=(0, 0, 0, 0)).convert("P"), "GIF"), OK, ""),
        ("rgba.png", encode(item(mode="RGBA", fg=(90, 30, 200, 255), bg=(0, 0, 0, 0))), OK, ""),
        ("animated.gif", animated_gif(), OK, ""),
        ("exif-rotated.jpg", exif_rotated(), OK, ""),
        ("one-pixel.png", encode(Image.new("L", (1, 1), 128)), OK, ""),
        ("large-photo.jpg", large_photo(), OK, ""),
        ("huge-16bit-canvas.png", wide_canvas("I;16"), OK, ""),
        ("huge-transparent-canvas.png", wide_canvas("RGBA"), OK, ""),
    ]


def normal_png() -> bytes:
    img = Image.new("L", (40, 56), 255)
    ImageDraw.Draw(img).rectangle((10, 8, 30, 48), fill=30)
    return encode(img)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", build_model(TINY.arch), TINY, epoch=1)


# --- memory, read from /proc ----------------------------------------------------------------------------------------

def _status_kb(field: str, pid: str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss() -> bool:
    """Start this process's peak RSS (VmHWM) again from its current RSS; False where the kernel cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# ``python -m nin_core`` exactly, plus a note of the process's own peak RSS when it exits. (The kernel's ru_maxrss
# for a child is no use here: it keeps the RSS of the forked copy of this test process from before exec.)
MEASURED_CLI = """
import atexit, os, runpy, sys
from pathlib import Path

def note_peak():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    Path(os.environ["PEAK_RSS_FILE"]).write_text(line.split()[1])

atexit.register(note_peak)
sys.argv[0] = "nin_core"
runpy.run_module("nin_core", run_name="__main__", alter_sys=True)
"""


def run_cli_measured(args: list[str], env: dict, peak_file: Path) -> tuple[int, str, str, int]:
    """Run the CLI; returns (exit status, stdout, stderr, the peak RSS in bytes of that process)."""
    out = subprocess.run([sys.executable, "-c", MEASURED_CLI, *args], cwd=ROOT, capture_output=True, text=True,
                         env=env | {"PEAK_RSS_FILE": str(peak_file)}, timeout=300)
    return out.returncode, out.stdout, out.stderr, int(peak_file.read_text()) * 1024


def fake_ghostscript(folder: Path) -> tuple[Path, Path]:
    """A `gs` that only records that it ran: if PIL ever hands an upload to Ghostscript, the marker appears."""
    marker = folder / "ghostscript-ran"
    gs = folder / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\nexit 0\n")
    gs.chmod(0o755)
    return gs.parent, marker


# --- the CLI --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_batch(corpus, checkpoint, tmp_path_factory) -> dict:
    """The CLI on the whole corpus in one batch (a fake Ghostscript on its PATH), and on one small PNG for a baseline
    of its peak memory."""
    root = tmp_path_factory.mktemp("cli")
    folder = root / "uploads"
    folder.mkdir()
    for name, data, _, _ in corpus:
        (folder / name).write_bytes(data)
    (root / "small.png").write_bytes(normal_png())
    gs_dir, marker = fake_ghostscript(root)
    env = os.environ | {"PATH": f"{gs_dir}{os.pathsep}{os.environ.get('PATH', '')}", "NIN_HOME": str(root / "home")}
    paths = [str(folder / name) for name, *_ in corpus]
    status, out, err, peak = run_cli_measured(
        ["predict", "--checkpoint", str(checkpoint), *paths, "--format", "json"], env, root / "peak")
    base_status, _, base_err, baseline = run_cli_measured(
        ["predict", "--checkpoint", str(checkpoint), str(root / "small.png"), "--format", "json"], env,
        root / "baseline-peak")
    assert base_status == 0, base_err
    return {"status": status, "stdout": out, "stderr": err, "peak": peak, "baseline": baseline, "paths": paths,
            "folder": folder, "ghostscript_ran": marker.exists()}


@pytest.mark.slow
def test_cli_predicts_the_whole_corpus_in_one_batch_in_bounded_memory(corpus, cli_batch):
    assert "Traceback" not in cli_batch["stderr"], cli_batch["stderr"]
    assert cli_batch["status"] == 2  # some files were bad input; the others still got their predictions
    results = json.loads(cli_batch["stdout"])
    assert [r["image"] for r in results] == cli_batch["paths"]
    for (name, _, expected, words), result in zip(corpus, results, strict=False):
        if expected == OK:
            assert result.get("error") is None, (name, result)
            probs = [t["probability"] for t in result["top_k"]]
            assert len(probs) == 3 and probs == sorted(probs, reverse=True)
        else:
            message = result["error"]
            assert message and "\n" not in message and name in message and words in message, (name, result)
            assert "top_k" not in result
    assert not cli_batch["ghostscript_ran"], "an upload was handed to Ghostscript"
    # What the bomb, the 24 MP photo and the two 39 MP canvases cost, over a run on one small PNG.
    growth = cli_batch["peak"] - cli_batch["baseline"]
    assert growth < MEMORY_BOUND, f"RSS grew by {growth / MB:.0f} MB"


def test_cli_refuses_a_file_that_never_ends(checkpoint, nin_home, capsys):
    """/dev/zero as an image: refused after a bounded read, not read until memory runs out."""
    from nin_core.cli import MAX_IMAGE_FILE_BYTES, main

    assert main(["predict", "--checkpoint", str(checkpoint), "/dev/zero", "--format", "json"]) == 2
    [result] = json.loads(capsys.readouterr().out)
    assert result["error"] == (f"/dev/zero is larger than {MAX_IMAGE_FILE_BYTES >> 20} MB: not an image this "
                               "program reads")


# --- the page -------------------------------------------------------------------------------------------------------





def predicted_names(at: AppTest) -> set[str]:
    """The file names the page shows a prediction for, as a person reads them (a name is shown as written)."""
    return {rendered(m.value).split(" → ")[0] for m in at.markdown if m.value.startswith("**") and "** → **" in m.value}


@pytest.mark.slow
def test_page_predicts_the_whole_corpus_in_one_batch_and_stays_up(corpus, checkpoint, cli_batch, nin_home,
                                                                   tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    gs_dir, marker = fake_ghostscript(tmp_path)
    monkeypatch.setenv("PATH", f"{gs_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # looked up afresh: it would find the fake one
    finished_run(nin_home, checkpoint)
    at = predict_page()
    uploads = [(name, data, "image/png") for name, data, _, _ in corpus]

    measured = reset_peak_rss()
    before = _status_kb("VmRSS") * 1024
    at.file_uploader[0].set_value(uploads).run()
    growth = _status_kb("VmHWM") * 1024 - before
    assert not at.exception, [e.value for e in at.exception]

    predicted = predicted_names(at)
    warnings = [rendered(w.value) for w in at.warning]
    assert len(warnings) == sum(expected == REFUSED for *_, expected, _ in corpus), warnings
    for name, _, expected, words in corpus:
        mine = [w for w in warnings if w.startswith(name + " ")]
        if expected == OK:
            assert name in predicted and not mine, (name, mine)
        else:
            assert name not in predicted and len(mine) == 1, (name, warnings)
            assert "\n" not in mine[0] and words in mine[0]
    assert len(at.get("progress")) == 3 * len(predicted)  # each prediction's three most likely classes
    # The same words as the CLI's, file for file (the CLI names the file by its path).
    cli = [r["error"].replace(f"{cli_batch['folder']}{os.sep}", "") for r in json.loads(cli_batch["stdout"])
           if r.get("error")]
    assert warnings == cli
    assert not marker.exists(), "an upload was handed to Ghostscript"
    if measured:
        assert growth < MEMORY_BOUND, f"RSS grew by {growth / MB:.0f} MB"

    # The app stays up: the next upload is predicted as usual.
    at.file_uploader[0].set_value([("after.png", normal_png(), "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert predicted_names(at) == {"after.png"} and not at.warning
    assert len(at.image) == 2

"""Predictions on people's own images: decoding every kind of upload, preprocessing, results and failures."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from helpers import encode, item, noise, png_claiming
from PIL import Image, ImageDraw

from nin_core.network.checkpoint import CheckpointError, save_checkpoint
from nin_core.network.config import TINY, ArchConfig, BlockConfig, RunConfig
from nin_core.network.model import build_model, predict_logits
from nin_core.network.predict import ImageError, Prediction, Predictor, load_image, overlay, prepare

SIZE = TINY.arch.resize


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(build_model(TINY.arch), TINY)










def check_ok(p: Prediction, top_k: int = 3) -> None:
    assert p.error is None
    assert len(p.top_k) == top_k
    probs = [prob for _, prob in p.top_k]
    assert probs == sorted(probs, reverse=True)
    assert len(p.probabilities) == 10 and sum(p.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert p.top_k[0][1] == pytest.approx(max(p.probabilities))
    assert p.predicted == int(np.argmax(p.probabilities))
    assert p.model_view.mode == "L" and p.model_view.size == (SIZE, SIZE)
    assert p.class_map.shape == (SIZE, SIZE) and p.class_map.dtype == np.float32
    assert p.class_map.min() >= 0.0 and p.class_map.max() <= 1.0


def test_png_prediction(predictor):
    [p] = predictor.predict_files([("shirt.png", encode(item()))], top_k=4)
    check_ok(p, top_k=4)
    assert p.name == "shirt.png"
    names = {name for name, _ in p.top_k}
    assert names <= {"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                     "ankle boot"}


def test_predict_accepts_any_pil_image(predictor):
    check_ok(predictor.predict(item(mode="RGB", fg=(200, 180, 40)), top_k=1), top_k=1)


def test_dark_on_light_is_inverted_automatically():
    _, view, inverted = prepare(item(fg=20, bg=240), SIZE)
    assert inverted and view.getpixel((0, 0)) < 30 and view.getpixel((SIZE // 2, SIZE // 2)) > 200
    _, view, inverted = prepare(item(fg=230, bg=0), SIZE)
    assert not inverted and view.getpixel((0, 0)) < 30


def test_forced_invert():
    tensor, view, inverted = prepare(item(fg=230, bg=0), SIZE, invert=True)
    assert inverted and view.getpixel((0, 0)) > 220
    assert tensor.shape == (1, 1, SIZE, SIZE) and tensor.dtype == torch.float32
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0
    assert torch.allclose(tensor[0, 0], torch.from_numpy(np.array(view, dtype=np.float32)) / 255)
    _, _, inverted = prepare(item(fg=20, bg=240), SIZE, invert=False)
    assert not inverted


def test_aspect_kept_by_padding_with_background():
    _, view, _ = prepare(Image.new("L", (100, 20), 200), SIZE, invert=False)
    assert np.array(view).min() == 200  # padded with the background shade, not black bars


def test_bad_files_fail_alone(predictor):
    good = encode(item())
    noisy_png, noisy_jpeg = encode(noise()), encode(noise((64, 64), "RGB"), "JPEG")
    files = [("a.png", good), ("empty.png", b""), ("notes.png", b"just some text\n"),
             ("cut.png", noisy_png[:len(noisy_png) // 2]), ("cut.jpg", noisy_jpeg[:len(noisy_jpeg) // 2]),
             ("b.jpg", encode(item(mode="RGB"), "JPEG"))]
    results = predictor.predict_files(files)
    assert [r.name for r in results] == [name for name, _ in files]
    check_ok(results[0])
    check_ok(results[-1])
    for r in results[1:-1]:
        assert r.error and "\n" not in r.error and r.name in r.error
        assert r.top_k == [] and r.model_view is None and r.class_map is None
    assert "is empty" in results[1].error
    assert "not an image" in results[2].error


def test_decompression_bomb_refused_before_decoding(predictor):
    for width, height in ((30000, 30000), (8000, 6000)):  # past PIL's own limit, and past only ours
        start = time.perf_counter()
        with pytest.raises(ImageError, match="megapixels"):
            load_image(png_claiming(width, height), "bomb.png")
        assert time.perf_counter() - start < 1.0
    [p] = predictor.predict_files([("bomb.png", png_claiming(30000, 30000))])
    assert "bomb.png" in p.error and "megapixels" in p.error


def test_16_bit_is_scaled_not_clipped():
    arr = np.zeros((30, 30), dtype=np.uint16)
    arr[10:20, 10:20] = 50000
    img = load_image(encode(Image.fromarray(arr)), "deep.png")
    assert img.mode == "L" and img.getpixel((15, 15)) == round(50000 * 255 / 65535)


def test_cmyk_jpeg_converts_correctly():
    img = load_image(encode(Image.new("CMYK", (16, 16), (0, 0, 0, 255)), "JPEG"), "cmyk.jpg")  # all black ink
    assert img.mode == "L" and img.getpixel((8, 8)) < 20


def test_transparent_background_becomes_background():
    dark = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    ImageDraw.Draw(dark).rectangle((10, 10, 30, 30), fill=(20, 20, 20, 255))
    img = load_image(encode(dark), "dark.png")
    assert img.getpixel((0, 0)) == 255 and img.getpixel((20, 20)) == 20
    light = Image.new("LA", (40, 40), (255, 0))
    ImageDraw.Draw(light).rectangle((10, 10, 30, 30), fill=(230, 255))
    img = load_image(encode(light), "light.png")
    assert img.getpixel((0, 0)) == 0 and img.getpixel((20, 20)) == 230
    # Either way the model sees a light item on black.
    for source in (dark, light):
        _, view, _ = prepare(source, SIZE)
        assert view.getpixel((0, 0)) < 30 and view.getpixel((SIZE // 2, SIZE // 2)) > 200


def test_animated_gif_gives_first_frame():
    frames = [item(fg=255), Image.new("L", (40, 40), 255)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(data, "anim.gif")
    assert img.getpixel((0, 0)) == 0 and img.getpixel((20, 20)) == 255


def test_a_tiny_image_and_an_animated_one_say_so(predictor):
    """A 1×1 picture still gets classes, but its answer means little; a GIF's later frames are not used."""
    [dot, plain] = predictor.predict_files([("dot.png", encode(Image.new("L", (1, 1), 200))),
                                            ("shirt.png", encode(item()))])
    check_ok(dot)
    assert dot.notes == [f"The image is only 1×1 pixels, enlarged to {SIZE}×{SIZE}: too little to recognise a "
                         "garment, so the answer means little."]
    assert plain.notes == []
    frames = [item(fg=255), Image.new("L", (40, 40), 255), Image.new("L", (40, 40), 0)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    [animated] = predictor.predict_files([("anim.gif", gif)])
    assert animated.notes == ["The image is animated (3 frames): only its first frame was used."]


def test_exif_orientation_applied():
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 255, 255), (20, 0, 40, 20))  # right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    img = load_image(encode(stored, "JPEG", exif=exif.tobytes()), "phone.jpg")
    assert img.size == (20, 40)
    assert img.getpixel((10, 5)) < 50 and img.getpixel((10, 35)) > 200  # turned clockwise: the left half on top
    _, view, _ = prepare(img, SIZE, invert=False)
    assert view.getpixel((SIZE // 2, 3)) < 50 and view.getpixel((SIZE // 2, SIZE - 4)) > 200


BIG_PHOTO = encode(item((4000, 3000), fg=(200, 60, 60), bg=(10, 10, 10), mode="RGB"), "JPEG", quality=70)


def test_large_jpeg_decoded_at_reduced_scale():
    assert load_image(BIG_PHOTO, "big.jpg", size_hint=SIZE).size == (500, 375)  # libjpeg's 1/8 scale
    assert load_image(BIG_PHOTO, "big.jpg").size == (4000, 3000)


KINDS = [
    ("deep.png", encode(Image.fromarray(np.full((20, 30), 40000, dtype=np.uint16)))),
    ("wide.tif", encode(Image.fromarray(np.full((20, 30), 70000, dtype=np.int32), "I"), "TIFF")),
    ("cmyk.jpg", encode(item(mode="CMYK", fg=(0, 0, 0, 255), bg=(0, 0, 0, 0)), "JPEG")),
    ("palette.png", encode(item(mode="RGB", fg=(250, 200, 0)).convert("P"))),
    ("palette-alpha.gif", encode(item(mode="RGBA", fg=(250, 200, 0, 255), bg=(0, 0, 0, 0)).convert("P"), "GIF")),
    ("rgba.png", encode(item(mode="RGBA", fg=(90, 30, 200, 255), bg=(0, 0, 0, 0)))),
    ("la.png", encode(item(mode="LA", fg=(200, 255), bg=(0, 0)))),
    ("mono.png", encode(item(mode="1", fg=1))),
    ("photo.bmp", encode(item(mode="RGB"), "BMP")),
    ("photo.webp", encode(item(mode="RGB"), "WEBP")),
    ("anim.webp", encode(item(mode="RGB"), "WEBP", save_all=True,
                         append_images=[Image.new("RGB", (40, 40), "white")], duration=100)),
    ("dot.png", encode(Image.new("L", (1, 1), 128))),
    ("line.png", encode(Image.new("RGB", (300, 1), "white"))),
    ("big.jpg", BIG_PHOTO),
]


@pytest.mark.parametrize("name, data", KINDS, ids=[name for name, _ in KINDS])
def test_all_kinds_predict(predictor, name, data):
    [p] = predictor.predict_files([(name, data)])
    check_ok(p)


@pytest.mark.parametrize("top_k", [0, 11, -1, 2.5, True, "3"])
def test_bad_top_k_raises(predictor, top_k):
    with pytest.raises(ValueError, match="top_k"):
        predictor.predict(item(), top_k=top_k)
    with pytest.raises(ValueError, match="top_k"):
        predictor.predict_files([("a.png", encode(item()))], top_k=top_k)


def test_top_k_may_be_every_class(predictor):
    check_ok(predictor.predict(item(), top_k=10), top_k=10)


def test_other_class_counts_are_numbered():
    arch = ArchConfig(blocks=(BlockConfig(8, 3, 1, 1), BlockConfig(3, 3, 1, 1)), num_classes=3, resize=16)
    p = Predictor(build_model(arch), RunConfig(arch=arch)).predict(item(), top_k=3)
    assert sorted(name for name, _ in p.top_k) == ["class 0", "class 1", "class 2"]
    assert p.class_map.shape == (16, 16)


def test_class_map_min_max_normalised(predictor):
    p = predictor.predict(noise((28, 28)))
    assert p.class_map.min() == pytest.approx(0.0) and p.class_map.max() == pytest.approx(1.0)


def test_overlay(predictor):
    p = predictor.predict(item())
    shown = overlay(p.model_view, p.class_map, alpha=0.4)
    assert shown.mode == "RGB" and shown.size == (SIZE, SIZE)
    assert overlay(p.model_view, p.class_map, alpha=0.0).getpixel((0, 0)) == (p.model_view.getpixel((0, 0)),) * 3
    with pytest.raises(ValueError, match="class_map"):
        overlay(p.model_view, np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        overlay(p.model_view, p.class_map, alpha=2)


def test_from_checkpoint_round_trip(predictor, tmp_path):
    path = save_checkpoint(tmp_path / "tiny.pt", predictor.model, TINY, epoch=1)
    loaded = Predictor.from_checkpoint(path)
    image = item()
    assert loaded.predict(image).probabilities == pytest.approx(predictor.predict(image).probabilities, abs=1e-6)


def test_a_model_trained_with_test_time_flips_answers_with_them(tmp_path):
    """Its answers average the image and its mirror, as the test accuracy its run reports does."""
    config = TINY.with_overrides(tta=True)
    torch.manual_seed(0)
    model = build_model(config.arch).eval()
    predictor = Predictor.from_checkpoint(save_checkpoint(tmp_path / "tta.pt", model, config, epoch=1))
    image = Image.new("L", (SIZE, SIZE))
    ImageDraw.Draw(image).rectangle((2, 4, 12, 24), fill=255)  # on the left: its mirror is another image
    x = predictor.model_input(image)[0]
    with torch.inference_mode():
        flipped, plain = predict_logits(model, x, tta=True).softmax(1)[0], model(x).softmax(1)[0]
    probabilities = predictor.predict(image).probabilities
    assert probabilities == pytest.approx(flipped.tolist(), abs=1e-6)
    assert probabilities != pytest.approx(plain.tolist(), abs=1e-6)


def test_from_checkpoint_rejects_other_files(tmp_path):
    path = tmp_path / "photo.pt"
    path.write_bytes(encode(item()))
    with pytest.raises(CheckpointError, match="not a NiN checkpoint"):
        Predictor.from_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Predictor.from_checkpoint(tmp_path / "missing.pt")

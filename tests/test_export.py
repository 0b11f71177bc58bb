"""The code of any configuration: a standalone script in the chapter's style that builds exactly nin_core's network
(the same layers, the same initial weights), the same schedule and augmentation, prints the chapter's shapes, and
trains on the real Fashion-MNIST in a fresh process to the chapter's two closing lines."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys

import pytest
import torch
from conftest import CHAPTER_SHAPES, ROOT

from nin_core.cli import main
from nin_core.lab.bench import torchvision_root
from nin_core.lab.export import export_script
from nin_core.network.config import CPU, SEED, SEED_BN, TINY, BlockConfig
from nin_core.network.data import IDX_FILES, find_dataset, flip_shift, write_idx
from nin_core.network.model import build_model
from nin_core.network.schedule import lr_at
from nin_core.network.shapes import shape_table

CONFIGS = {
    "seed": SEED,
    "seed-bn at 96 px": SEED_BN.with_overrides(resize=96),
    "no 1×1 convs, no last ReLU, PyTorch's init": TINY.with_overrides(pointwise_convs=0, final_relu=False,
                                                                       init="default", seed=3),
    "three 3×3 convs, fc head, everything beyond the chapter": TINY.with_overrides(
        pointwise_convs=3, pointwise_kernel=3, head="fc", batch_norm=True, schedule="cosine", warmup_epochs=1.0,
        tta=True, validation_size=1000, label_smoothing=0.1, precision="bf16", optimizer="sgd", momentum=0.9,
        nesterov=True, weight_decay=1e-4, augment="flip-shift"),
    "a gentler reduction to 96 maps": CPU.with_overrides(blocks=(*CPU.arch.blocks[:3], BlockConfig(96, 3, 1, 1)),
                                                         head="fc", schedule="onecycle"),
}


def load(script: str, tmp_path) -> dict:
    """The script's module-level names (its network among them), as importing it gives them."""
    path = tmp_path / "nin.py"
    path.write_text(script)
    return runpy.run_path(str(path), run_name="exported")


def shape_lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if "output shape:" in line]


@pytest.mark.parametrize("name", CONFIGS)
def test_the_script_builds_nin_cores_network_with_its_weights_schedule_and_augmentation(name, tmp_path):
    config = CONFIGS[name]
    script = export_script(config)
    assert "nin_core" not in script
    assert all(len(line) <= 120 for line in script.splitlines())
    exported = load(script, tmp_path)
    torch.manual_seed(config.train.seed)
    ours = build_model(config.arch, config.train.init)
    theirs = exported["net"]
    assert list(theirs.state_dict()) == list(ours.state_dict())  # the same layers in the same places
    assert all(torch.equal(v, ours.state_dict()[k]) for k, v in theirs.state_dict().items())  # the same weights
    x = torch.rand(2, 1, config.arch.resize, config.arch.resize)
    assert torch.equal(theirs.eval()(x), ours.eval()(x))
    t = config.train
    if "lr_at" in exported:
        assert [exported["lr_at"](step, 9) for step in range(9 * t.epochs)] == \
               [lr_at(t, step, 9) for step in range(9 * t.epochs)]
    else:
        assert t.schedule == "constant" and not t.warmup_epochs
    if t.augment == "flip-shift":
        batch = torch.rand(6, 1, 28, 28)
        assert torch.equal(exported["flip_shift"](batch, torch.Generator().manual_seed(5)),
                           flip_shift(batch, torch.Generator().manual_seed(5)))


@pytest.mark.slow
def test_the_seed_script_prints_the_chapters_ten_shapes(tmp_path):
    (tmp_path / "nin.py").write_text(export_script(SEED))
    out = subprocess.run([sys.executable, "nin.py", "--shapes-only"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert shape_lines(out.stdout) == shape_lines(CHAPTER_SHAPES)
    # the chapter's own block, word for word
    assert ("    return nn.Sequential(\n        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),\n"
            "        nn.ReLU(),\n        nn.Conv2d(out_channels, out_channels, kernel_size=1),\n") in \
        export_script(SEED)


@pytest.mark.slow
def test_the_tiny_script_trains_on_the_real_data_to_the_chapters_two_lines(tmp_path):
    root = torchvision_root(find_dataset(), tmp_path / "data")  # torchvision's layout: FashionMNIST/raw/
    (tmp_path / "nin.py").write_text(export_script(TINY))
    # A fresh process in another folder: nin_core cannot even be imported there.
    out = subprocess.run([sys.executable, "nin.py", "--data-root", str(root)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=900, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    expected = [f"{row.layer} output shape: torch.Size({list(row.output_shape)})"
                for row in shape_table(TINY.arch).rows]
    assert shape_lines(out.stdout) == expected
    loss, speed = out.stdout.strip().splitlines()[-2:]
    found = re.fullmatch(r"loss (\d+\.\d{3}), train acc (0\.\d{3}|1\.000), test acc (0\.\d{3}|1\.000)", loss)
    assert found, out.stdout
    assert re.fullmatch(r"\d+\.\d examples/sec on cpu", speed), out.stdout
    assert float(found.group(3)) > 0.3  # it learned: 4,000 images, 2 epochs of AdamW


@pytest.mark.parametrize("where", ["NIN_DATASET_DIR", "the user cache", "torchvision's folders under it"])
def test_the_script_reads_the_data_where_the_app_finds_it_without_downloading(where, tmp_path, monkeypatch):
    import torchvision

    cache = tmp_path / "cache"
    folder = {"NIN_DATASET_DIR": tmp_path / "idx", "the user cache": cache / "nin" / "fashion-mnist",
              "torchvision's folders under it": cache / "nin" / "fashion-mnist" / "FashionMNIST" / "raw"}[where]
    images, labels = torch.randint(0, 256, (2, 5, 28, 28), dtype=torch.uint8), torch.tensor([[3, 1, 4, 1, 5],
                                                                                               [9, 2, 6, 5, 3]])
    for i, split in enumerate(("train", "test")):  # Debian's kind of files: gzipped
        write_idx(folder / f"{IDX_FILES[f'{split}_images']}.gz", images[i])
        write_idx(folder / f"{IDX_FILES[f'{split}_labels']}.gz", labels[i].to(torch.uint8))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    if where == "NIN_DATASET_DIR":
        monkeypatch.setenv("NIN_DATASET_DIR", str(folder))
    else:
        monkeypatch.delenv("NIN_DATASET_DIR", raising=False)

    def offline(*args, **kwargs):
        raise RuntimeError("no network here")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    exported = load(export_script(TINY.with_overrides(train_size=None, test_size=None)), tmp_path)
    for i, loader in enumerate(exported["load_data_fashion_mnist"](2, 28, None)):
        assert [(x.shape, y) for x, y in loader.dataset] == [((1, 28, 28), int(y)) for y in labels[i]]
        assert torch.equal(torch.stack([x for x, _ in loader.dataset]), images[i][:, None] / 255)


def test_code_from_the_shell(capsys, tmp_path):
    assert main(["code", "--preset", "tiny"]) == 0
    assert capsys.readouterr().out == export_script(TINY)
    config = tmp_path / "c.json"
    config.write_text(TINY.with_overrides(batch_norm=True).to_json())
    assert main(["code", "--config", str(config), "--lr", "0.05"]) == 0
    assert capsys.readouterr().out == export_script(TINY.with_overrides(batch_norm=True, lr=0.05))


@pytest.mark.parametrize("args, words", [
    (["code", "--preset", "huge"], "invalid choice"),
    (["code", "--lr", "0"], "train.lr: must be in (0, 100]"),
    (["code", "--preset", "seed", "--resize", "60"], "resize 60 is too small"),
])
def test_code_refuses_bad_input_in_one_line(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


@pytest.mark.slow
def test_the_script_runs_from_the_shell_as_printed(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nin_core", "code", "--preset", "seed"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == export_script(SEED)


def test_the_training_page_shows_and_offers_the_code_of_its_configuration(nin_home, monkeypatch, fake_throughput):
    from streamlit.testing.v1 import AppTest

    from nin_core.runs import jobs

    monkeypatch.setattr(jobs, "ensure_worker", lambda store: None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    [code] = at.code
    assert code.value == export_script(CPU).rstrip() and code.language == "python"  # the cpu preset: no GPU
    assert "Download nin.py" in [d.label for d in at.download_button]

"""The command line: the seed's shapes, a real training run recorded in the store, predictions, and one-line
messages with exit status 2 for every kind of bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from conftest import ROOT
from PIL import Image


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nin_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_shapes_prints_the_seeds_ten_shapes():
    out = cli("shapes", "--preset", "seed")
    assert out.returncode == 0, out.stderr
    for shape in ("[1, 96, 54, 54]", "[1, 96, 26, 26]", "[1, 256, 26, 26]", "[1, 256, 12, 12]", "[1, 384, 12, 12]",
                  "[1, 384, 5, 5]", "[1, 10, 5, 5]", "[1, 10, 1, 1]", "[1, 10]"):
        assert shape in out.stdout
    assert "smallest valid input: 67 px" in out.stdout


@pytest.mark.slow
def test_shapes_json_and_a_config_file(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"arch": {"resize": 96}}')
    data = json.loads(cli("shapes", "--config", str(config), "--format", "json").stdout)
    assert data["input_shape"] == [1, 1, 96, 96] and data["output_shape"] == [1, 10] and len(data["rows"]) == 10


def test_shapes_shows_the_memory_of_a_training_step_and_of_inference_as_the_page_does(capsys):
    from nin_core.cli import main
    from nin_core.network.config import SEED
    from nin_core.network.memory import format_bytes, memory_estimate

    args = ["shapes", "--preset", "seed", "--batch-size", "64", "--precision", "float32"]
    memory = memory_estimate(SEED.with_overrides(batch_size=64, precision="float32"))
    assert main(args) == 0
    text = capsys.readouterr().out
    for name, n in {"training step": memory.train_bytes, "inference, one image": memory.inference_image_bytes,
                    "inference, 64 images": memory.inference_batch_bytes}.items():
        assert f"{name} {format_bytes(n)}" in text
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["memory"]
    assert data["batch_size"] == 64 and data["precision"] == "float32"
    assert data["bytes"]["training step"] == memory.train_bytes
    assert data["bytes"]["inference, one image"] == memory.inference_image_bytes


@pytest.mark.slow
def test_shapes_of_a_breaking_configuration_prints_rows_and_the_reason_and_exits_2():
    out = cli("shapes", "--preset", "seed", "--resize", "60")
    assert out.returncode == 2
    assert "[1, 384, 2, 2]" in out.stdout and "the third max-pool" in out.stdout
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, words", [
    (("shapes", "--resize", "abc"), "arch.resize: must be a whole number, got 'abc'"),
    (("shapes", "--preset", "huge"), "invalid choice"),
    (("shapes", "--config", "/no/such/file.json"), "cannot read /no/such/file.json"),
    (("train", "--lr", "nan"), "train.lr: must be a finite number"),
    (("train", "--lr", "-1"), "train.lr: must be in (0, 100]"),
    (("train", "--batch-size", "0"), "train.batch_size"),
    (("train", "--batch-size", "512", "--train-size", "100"), "larger than the 100 training images"),
    (("train", "--resize", "20"), "resize 20 is too small for this architecture: it needs at least 67 px"),
    (("train", "--device", "cuda:3"), "train.device"),
    (("train", "--device", "tpu"), "must be auto, cpu, cuda, cuda:N or mps"),
    (("train", "--data-dir", "/no/such/folder", "--preset", "tiny"), "NIN_DATASET_DIR"),
    (("predict", "--checkpoint", "/no/such.pt", "x.png"), "no checkpoint at /no/such.pt"),
    (("predict", "--run", "999", "x.png"), "no run with id 999"),
    (("runs", "--format", "yaml"), "invalid choice"),
    ((), "required"),
])
def test_bad_input_gets_one_line_and_exit_2(nin_home, cli_main, args, words):
    code, _, err = cli_main(*args)
    assert code == 2, err
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    assert words in err and "Traceback" not in err


def test_bad_config_file_names_the_fields(tmp_path, nin_home, cli_main):
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": {"lr": "fast"}, "arch": {"colour": 3}}')
    code, _, err = cli_main("train", "--config", str(bad))
    assert code == 2 and "arch.colour" in err
    assert "train.lr: must be a number, got 'fast'" in err


@pytest.mark.slow
@pytest.mark.parametrize("content, words", [
    (("[" * 100_000 + "]" * 100_000).encode(), "config: is nested too deeply to be a configuration"),
    (('{"train": {"epochs": ' + "9" * 5000 + "}}").encode(), "config: holds a number of more than 4300 digits"),
    (b'{"train": {"name": "\xff"}}', "is not a text file"),
], ids=["deep", "long-number", "not-utf8"])
def test_a_config_file_python_cannot_parse_gets_one_line_and_exit_2(tmp_path, content, words):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    out = cli("shapes", "--config", str(bad))
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_predict_tells_what_to_know_about_an_image(tmp_path):
    import torch

    from nin_core.network.checkpoint import save_checkpoint
    from nin_core.network.config import TINY
    from nin_core.network.model import build_model

    torch.manual_seed(0)
    model = save_checkpoint(tmp_path / "tiny.pt", build_model(TINY.arch), TINY, epoch=1)
    dot = tmp_path / "dot.png"
    Image.new("L", (1, 1), 200).save(dot)
    out = cli("predict", "--checkpoint", str(model), str(dot))
    assert out.returncode == 0, out.stderr
    assert f"{dot}: note: The image is only 1×1 pixels, enlarged to 28×28" in out.stdout
    [result] = json.loads(cli("predict", "--checkpoint", str(model), str(dot), "--format", "json").stdout)
    assert result["notes"][0].startswith("The image is only 1×1 pixels")


@pytest.mark.slow
def test_train_records_the_run_and_predict_uses_it(nin_home, tmp_path):
    out = cli("train", "--preset", "tiny", "--epochs", "1", "--name", "cli run", "--quiet")
    assert out.returncode == 0, out.stderr
    loss_line, speed_line = out.stdout.strip().splitlines()
    assert loss_line.startswith("loss ") and ", train acc " in loss_line and ", test acc " in loss_line
    assert speed_line.endswith(" examples/sec on cpu")

    runs = json.loads(cli("runs", "--format", "json").stdout)
    assert [(r["name"], r["status"]) for r in runs] == [("cli run", "finished")]
    assert runs[0]["config"]["train"]["epochs"] == 1 and runs[0]["final"]["test_acc"] > 0

    good, broken = tmp_path / "shirt.png", tmp_path / "broken.png"
    buf = io.BytesIO()
    Image.new("L", (40, 40), 200).save(buf, "PNG")
    good.write_bytes(buf.getvalue())
    broken.write_bytes(b"not an image")
    out = cli("predict", "--run", str(runs[0]["id"]), str(good), str(broken), "--top-k", "2", "--format", "json")
    assert out.returncode == 2  # one file was bad input; the other still got its prediction
    results = json.loads(out.stdout)
    assert len(results[0]["top_k"]) == 2 and results[0]["top_k"][0]["probability"] >= results[0]["top_k"][1][
        "probability"]
    assert results[1]["error"] and "top_k" not in results[1]
    assert results[0]["notes"] == []  # a 40×40 image: nothing to warn about

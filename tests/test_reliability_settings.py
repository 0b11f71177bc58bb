"""Issue #5, settings: any value typed into any field. Every field is checked (type, range, NaN and infinity, sizes
too small for the architecture, a batch larger than the data, an unknown device, a CUDA device where there is none),
and the message comes before anything launches: the CLI says it in one line with exit status 2 and records
nothing; the page shows the same words, disables Train and queues nothing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from conftest import APP, rendered, widget
from streamlit.testing.v1 import AppTest

from nin_core.network import memory
from nin_core.network.config import TINY
from nin_core.runs.store import RunStore

pytestmark = pytest.mark.usefixtures("fake_throughput")  # these are about messages, not the page's estimate
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@dataclass(frozen=True)
class Case:
    """``cli``: arguments after ``train --preset tiny`` (a dict instead: a configuration file, TINY with these
    changes). ``page``: how a person gets the value onto the page: typed into the field ("widget", {label: value}),
    in a link ("link", {param: text}) or in an uploaded configuration file ("file", TINY changed). A value outside a
    field's own bounds cannot be typed (the field keeps its value), so those come by link or file. ``refused``: the
    value cannot even be read into a configuration, so the page refuses the file and changes nothing."""

    cli: tuple | dict
    page: tuple
    field: str
    message: str
    refused: bool = False
    marks: tuple = field(default=())


def changed(**sections) -> dict:
    """TINY as JSON with some settings changed: changed(train={"lr": 0})."""
    data = TINY.to_dict()
    for section, values in sections.items():
        data[section] = data[section] | values
    return data


CASES = {
    # the learning rate: range, NaN and infinity
    "lr-zero": Case(("--lr", "0"), ("widget", {"Learning rate": 0.0}), "train.lr", "must be in (0, 100], got 0"),
    "lr-too-large": Case(("--lr", "1000"), ("link", {"lr": "1000"}), "train.lr",
                         "must be in (0, 100], got 1000"),
    "lr-nan-link": Case(("--lr", "nan"), ("link", {"lr": "nan"}), "train.lr", "must be a finite number, got nan"),
    "lr-nan-file": Case(changed(train={"lr": math.nan}), ("file", changed(train={"lr": math.nan})), "train.lr",
                        "must be a finite number, got nan"),
    "lr-infinite-link": Case(
        ("--lr", "inf"), ("link", {"lr": "inf"}), "train.lr", "must be a finite number, got inf"),
    "lr-infinite-file": Case(
        changed(train={"lr": math.inf}), ("file", changed(train={"lr": math.inf})), "train.lr",
        "must be a finite number, got inf"),
    "lr-type": Case(changed(train={"lr": "fast"}), ("file", changed(train={"lr": "fast"})), "train.lr",
                    "must be a number, got 'fast'", refused=True),
    # the other training numbers
    "momentum-one": Case(("--momentum", "1"), ("widget", {"Momentum": 1.0}), "train.momentum",
                         "must be in [0, 1), got 1"),
    "weight-decay-negative": Case(("--weight-decay", "-0.1"), ("link", {"weight_decay": "-0.1"}),
                                  "train.weight_decay", "must be in [0, 1], got -0.1"),
    "epochs-zero": Case(("--epochs", "0"), ("link", {"epochs": "0"}), "train.epochs",
                        "must be between 1 and 1000, got 0"),
    "epochs-huge-link": Case(
        ("--epochs", "100000000000000000000"), ("link", {"epochs": "1e20"}), "train.epochs",
        "must be between 1 and 1000, got 100000000000000000000"),
    "epochs-type": Case(changed(train={"epochs": 2.5}), ("file", changed(train={"epochs": 2.5})), "train.epochs",
                        "must be a whole number, got 2.5", refused=True),
    "seed-negative": Case(("--seed", "-1"), ("link", {"seed": "-1"}), "train.seed",
                          "must be between 0 and 2147483647, got -1"),
    "batch-zero": Case(("--batch-size", "0"), ("link", {"batch_size": "0"}), "train.batch_size",
                       "must be between 1 and 8192, got 0"),
    "batch-larger-than-the-data": Case(("--train-size", "100", "--batch-size", "512"),
                                       ("widget", {"Training images": 100, "Batch size": 512}), "train.batch_size",
                                       "512 is larger than the 100 training images"),
    "train-size-too-large": Case(("--train-size", "70000"), ("link", {"train_size": "70000"}),
                                 "train.train_size", "must be between 1 and 60000, got 70000"),
    "test-size-zero": Case(("--test-size", "0"), ("link", {"test_size": "0"}), "train.test_size",
                           "must be between 1 and 10000, got 0"),
    "optimizer-unknown": Case(changed(train={"optimizer": "rmsprop"}),
                              ("file", changed(train={"optimizer": "rmsprop"})), "train.optimizer",
                              "must be one of sgd, adam, adamw, got 'rmsprop'"),
    "init-unknown": Case(changed(train={"init": "he"}), ("file", changed(train={"init": "he"})), "train.init",
                         "must be one of xavier, default, got 'he'"),
    "precision-unknown": Case(changed(train={"precision": "fp8"}), ("file", changed(train={"precision": "fp8"})),
                              "train.precision", "must be one of auto, float32, bf16, got 'fp8'"),
    # the network
    "resize-too-small-for-the-architecture": Case(
        ("--resize", "4"), ("widget", {"Resize (px)": 4}), "arch.resize",
        "resize 4 is too small for this architecture: it needs at least 7 px (the second max-pool would get a 1×1 "
        "input, smaller than its 3×3 window)"),
    "resize-too-large": Case(("--resize", "2048"), ("link", {"resize": "2048"}), "arch.resize",
                             "must be between 1 and 1024, got 2048"),
    "dropout-one": Case(changed(arch={"dropout": 1.0}), ("widget", {"Dropout": 1.0}), "arch.dropout",
                        "must be in [0, 1), got 1"),
    "pool-kernel-zero": Case(changed(arch={"pool_kernel": 0}), ("link", {"pool_kernel": "0"}), "arch.pool_kernel",
                             "must be between 1 and 15, got 0"),
    "pool-stride-too-large": Case(changed(arch={"pool_stride": 16}), ("link", {"pool_stride": "16"}),
                                  "arch.pool_stride", "must be between 1 and 15, got 16"),
    "input-channels": Case(changed(arch={"in_channels": 5}), ("link", {"in_channels": "5"}), "arch.in_channels",
                           "must be between 1 and 4, got 5"),
    "classes-unlike-the-last-block": Case(
        changed(arch={"num_classes": 7}), ("widget", {"Classes": 7}), "arch.blocks[2].out_channels",
        "must equal num_classes (7): in NiN the last block gives one map per class, got 10 (or choose the fc head)"),
    "block-kernel-zero": Case(
        changed(arch={"blocks": [[16, 0, 1, 0], [32, 3, 1, 1], [10, 3, 1, 1]]}),
        ("file", changed(arch={"blocks": [[16, 0, 1, 0], [32, 3, 1, 1], [10, 3, 1, 1]]})),
        "arch.blocks[0].kernel_size", "must be between 1 and 31, got 0"),
    "no-blocks": Case(changed(arch={"blocks": []}), ("file", changed(arch={"blocks": []})), "arch.blocks",
                      "must be a non-empty list of blocks", refused=True),
    # the device
    "device-unknown": Case(("--device", "tpu"), ("file", changed(train={"device": "tpu"})), "train.device",
                           "must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    "device-cuda-missing": Case(("--device", "cuda:0"), ("file", changed(train={"device": "cuda:0"})),
                                "train.device", "cuda:0 was asked for, but this machine has no CUDA GPU",
                                marks=(NO_CUDA,)),
}


# --- the CLI --------------------------------------------------------------------------------------------------------

def cli_message(case: Case, tmp_path: Path, capsys, monkeypatch) -> str:
    """Run ``train`` in this process (the CLI's own code, without a process start per case) and return its one
    line; training itself is replaced by a failure, in case a bad value got through."""
    from nin_core import cli
    from nin_core.runs import jobs

    def no_training(*args, **kwargs):
        raise AssertionError("a bad configuration reached training")

    monkeypatch.setattr(jobs, "run_training", no_training)
    if isinstance(case.cli, dict):
        path = tmp_path / "config.json"
        path.write_text(json.dumps(case.cli))  # NaN and Infinity as Python's json writes (and reads) them
        args = ["train", "--config", str(path)]
    else:
        args = ["train", "--preset", "tiny", *case.cli]
    assert cli.main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err[len("error: "):].rstrip("\n")


# --- the page -------------------------------------------------------------------------------------------------------

def open_training_page(link: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "tiny", **(link or {})})
    at.run()
    return at


def page_problems(at: AppTest) -> list[str]:
    """Every problem the page shows next to a field (red Markdown) or under the summary (errors), unescaped."""
    red = ":red[:material/error: "
    out = []
    for m in at.markdown:
        for part in m.value.split("\n\n"):
            if part.startswith(red):
                out.append(part[len(red):-1].replace("\\[", "[").replace("\\]", "]"))
    return out + [e.value for e in at.error]


def put_on_page(case: Case) -> AppTest:
    route, values = case.page
    at = open_training_page(values if route == "link" else None)
    if route == "widget":
        assert not at.exception, [e.value for e in at.exception]
        for label, value in values.items():
            widget(at, "number_input", label).set_value(value)
        at.run()
    elif route == "file":
        assert not at.exception, [e.value for e in at.exception]
        upload = next(u for u in at.file_uploader if u.label == "Load a configuration (JSON)")
        upload.set_value(("settings.json", json.dumps(values).encode(), "application/json")).run()
    return at


@pytest.mark.parametrize("name", [pytest.param(name, marks=case.marks) for name, case in CASES.items()])
def test_a_bad_setting_is_explained_the_same_way_before_anything_launches(name, nin_home, tmp_path, capsys,
                                                                          monkeypatch):
    case = CASES[name]
    # The CLI: one line, exit 2, nothing recorded.
    said = cli_message(case, tmp_path, capsys, monkeypatch)
    assert said == f"{case.field}: {case.message}"
    assert not (nin_home / "runs.sqlite").exists()

    # The page: the same words, Train disabled, nothing queued.
    at = put_on_page(case)
    assert not at.exception, [e.value for e in at.exception]
    if case.refused:
        (error,) = at.error
        assert "settings.json was not loaded; nothing was changed." in rendered(error.value)
        assert f"{case.field} {case.message}." in rendered(error.value)
        assert dict(at.query_params) == {"preset": "tiny", "lang": "en"}  # the configuration is the one before
    else:
        shown = page_problems(at)
        assert any(p == case.message or p.endswith(": " + case.message) for p in shown), shown
        assert widget(at, "button", "Train").disabled
    assert RunStore(nin_home).list_runs() == []


def test_a_data_folder_that_does_not_exist_is_refused_by_the_cli_before_launch(nin_home, capsys):
    from nin_core import cli

    assert cli.main(["train", "--preset", "tiny", "--data-dir", "/no/such/folder"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "/no/such/folder" in err
    assert not (nin_home / "runs.sqlite").exists()


def test_a_data_folder_that_does_not_exist_is_refused_by_the_page_before_launch(nin_home):
    at = open_training_page()
    widget(at, "text_input", "Data folder").input("/no/such/folder").run()
    assert not at.exception
    assert any("/no/such/folder" in p for p in page_problems(at)), page_problems(at)
    assert widget(at, "button", "Train").disabled


@pytest.mark.parametrize("text, said", [
    ("[" * 100_000 + "]" * 100_000, "is nested too deeply to be a configuration"),
    ('{"train": {"epochs": ' + "9" * 5000 + "}}", "holds a number of more than 4300 digits"),
], ids=["deep", "long-number"])
def test_a_configuration_file_python_cannot_parse_is_the_uploads_message(nin_home, text, said):
    at = open_training_page()
    upload = next(u for u in at.file_uploader if u.label == "Load a configuration (JSON)")
    upload.set_value(("bad.json", text.encode(), "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert rendered(error.value) == rendered(f"bad.json was not loaded; nothing was changed. `config` {said}.")
    assert dict(at.query_params) == {"preset": "tiny", "lang": "en"}  # the configuration is the one before
    upload = next(u for u in at.file_uploader if u.label == "Load a configuration (JSON)")
    upload.set_value(("good.json", TINY.with_overrides(epochs=3).to_json().encode(), "application/json")).run()
    assert not at.exception and not at.error  # the page is still up and takes the next file
    assert dict(at.query_params) == {"preset": "tiny", "epochs": "3", "lang": "en"}


# --- too large for the device's memory (issue 15) ---------------------------------------------------------------------

def test_a_step_too_large_for_memory_is_refused_the_same_way_before_launch(nin_home, tmp_path, capsys,
                                                                         monkeypatch):
    # The step needs terabytes (the resized batch alone is 34 GB, which such a run used to fail on at once).
    # The RAM available is fixed here, so that the CLI and the page, a moment apart, name the same amount.
    monkeypatch.setattr(memory, "device_memory", lambda device: (20_000_000_000, "RAM available on this machine"))
    case = Case(("--resize", "1024", "--batch-size", "8192", "--train-size", "10000"),
                ("link", {"resize": "1024", "batch_size": "8192", "train_size": "10000"}), "train.batch_size", "")
    said = cli_message(case, tmp_path, capsys, monkeypatch)
    field, message = said.split(": ", 1)
    assert field == "train.batch_size" and message.startswith("a training step of 8192 images at 1024 px needs "
                                                              "about ")
    assert re.search(r"TB \(.* TB with the process itself and a margin\), more than the 20 GB of RAM available "
                     r"on this machine: lower the batch size to \d+ or less, or the resize$", message), message
    assert not (nin_home / "runs.sqlite").exists()

    at = put_on_page(case)
    assert not at.exception, [e.value for e in at.exception]
    assert message in page_problems(at)
    assert widget(at, "button", "Train").disabled
    assert RunStore(nin_home).list_runs() == []

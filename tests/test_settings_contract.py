"""One contract for every declared setting, in the manner of timm's test_models.py: whatever the table of settings
declares, each surface takes it. A setting added to the table and nowhere else passes all of this.

For each setting: its CLI flag parses; a value other than the chapter's survives JSON, the link and a checkpoint;
a bad value gets the same one-line message from a CLI flag, a JSON file, a link and the training page, and the page
has a widget for it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import torch
from conftest import ROOT, use_fake_throughput
from streamlit.testing.v1 import AppTest

from nin_core import cli
from nin_core.network.checkpoint import load_checkpoint, save_checkpoint
from nin_core.network.config import SETTINGS, TINY, BlockConfig, RunConfig
from nin_core.network.model import build_model
from nin_core.network.settings import Setting, format_value
from nin_core.runs import jobs
from nin_core.runs.urlconfig import decode, encode

NAMES = list(SETTINGS)
pytestmark = pytest.mark.usefixtures("fake_throughput")  # these are about settings, not the page's estimate


def other_value(s: Setting) -> Any:
    """A valid value that is not the chapter's."""
    if s.name == "blocks":
        return (BlockConfig(32, 5, 1, 2), BlockConfig(10, 3, 1, 1))
    if s.kind is bool:
        return not s.default
    if s.spec.choices:
        return next(c for c in s.spec.choices if c != s.default)
    if s.spec.pattern:
        return "cpu"
    if s.kind is str:
        return "/some/folder"
    if s.kind is int:
        return int(s.spec.low) if s.default != s.spec.low else int(s.spec.low) + 1
    return (s.spec.low + s.spec.high) / 4 if s.default != (s.spec.low + s.spec.high) / 4 else s.spec.high / 3


def bad_value(s: Setting) -> tuple[str, Any, str, str]:
    """(text for a flag or a link, the same in JSON, the field named, the message): out of range where the setting
    has a range, else of the wrong type or not one of the choices."""
    if s.name == "blocks":
        return "10-0-1-0", [[10, 0, 1, 0]], "arch.blocks[0].kernel_size", "must be between 1 and 31, got 0"
    if s.kind is bool:
        return "maybe", "maybe", s.path, "must be true or false, got 'maybe'"
    if s.spec.choices:
        wrong = 2 if s.kind is int else "nonsense"
        return str(wrong), wrong, s.path, f"must be {s.describe_range()}, got {wrong!r}"
    if s.spec.pattern:
        return "tpu", "tpu", s.path, f"must be {s.spec.pattern_text}, got 'tpu'"
    if s.kind is str:  # a folder: any text reads, so the message is the launch check's
        folder = "/no/such/folder"
        return folder, folder, s.path, f"The Fashion-MNIST folder {folder} (from data_dir) does not exist"
    if s.kind is int:
        high = int(s.spec.high) + 1
        return str(high), high, s.path, f"must be between {int(s.spec.low)} and {int(s.spec.high)}, got {high}"
    high = s.spec.high * 2
    return format_value(high), high, s.path, f"must be in {s.describe_range()}, got {high:g}"


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_has_a_cli_flag_that_parses(name):
    s = SETTINGS[name]
    value = other_value(s)
    args = cli.build_parser().parse_args(["train", s.flag, format_value(value)])
    assert cli._overrides(args) == {name: value}


def test_train_help_lists_a_flag_for_every_setting(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--help"])
    shown = capsys.readouterr().out
    assert all(s.flag in shown for s in SETTINGS.values())


@pytest.mark.parametrize("name", NAMES)
def test_a_value_beyond_the_default_survives_json_link_and_checkpoint(name, tmp_path):
    config = TINY.with_overrides(**{name: other_value(SETTINGS[name])})
    assert RunConfig.from_json(config.to_json()) == config
    assert decode(encode(config, "tiny")).config == config
    path = save_checkpoint(tmp_path / "c.pt", build_model(TINY.arch), config, epoch=1)
    assert RunConfig.from_dict(load_checkpoint(path)["config"]) == config


def test_a_configuration_written_before_a_setting_existed_takes_the_chapters_value():
    data = TINY.to_dict()
    beyond = [s for s in SETTINGS.values() if not s.spec.chapter]
    for s in beyond:
        del data[s.section][s.name]
    config = RunConfig.from_dict(data)
    assert all(config.get(s.name) == s.default for s in beyond)


def cli_error(args: list[str], capsys, monkeypatch) -> str:
    """The CLI's one line for ``train`` with these arguments (training itself may not be reached)."""
    monkeypatch.setattr(jobs, "run_training", lambda *a, **k: pytest.fail("a bad setting reached training"))
    assert cli.main(["train", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_value_gets_the_same_message_from_a_flag_and_a_json_file(name, nin_home, tmp_path, capsys,
                                                                       monkeypatch):
    s = SETTINGS[name]
    text, in_json, field, message = bad_value(s)
    said = cli_error(["--preset", "tiny", s.flag, text], capsys, monkeypatch)
    assert f"{field}: {message}" in said
    data = TINY.to_dict()
    data[s.section][name] = in_json
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert f"{field}: {message}" in cli_error(["--config", str(path)], capsys, monkeypatch)
    assert not (nin_home / "runs.sqlite").exists()  # nothing recorded


@pytest.fixture(scope="module")
def page_with_every_bad_value(tmp_path_factory):
    """The training page opened from one link that carries a bad value for every setting at once."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NIN_HOME", str(home))
        use_fake_throughput(mp)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params.update({"preset": "tiny", **{name: bad_value(SETTINGS[name])[0] for name in NAMES}})
        at.run()
        yield at


def shown_on_page(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(parts).replace("\\[", "[").replace("\\]", "]")


@pytest.mark.parametrize("name", NAMES)
def test_the_page_has_a_widget_and_the_same_message_for_a_bad_link(name, page_with_every_bad_value):
    at, s = page_with_every_bad_value, SETTINGS[name]
    assert not at.exception, [e.value for e in at.exception]
    if name == "blocks":
        assert len(at.data_editor) == 1
    else:
        kinds = ("number_input", "selectbox", "toggle", "text_input")
        assert any(w.label == s.spec.label for kind in kinds for w in getattr(at, kind)), s.spec.label
    assert bad_value(s)[3] in shown_on_page(at)
    assert next(b for b in at.button if b.label == "Train").disabled


def test_every_setting_is_in_a_group_and_says_whether_the_chapter_has_it():
    for s in SETTINGS.values():
        assert s.spec.group in ("network", "training", "data and device") and s.spec.label
        field = next(f for f in dataclasses.fields(type(getattr(TINY, s.section))) if f.name == s.name)
        assert field.metadata["spec"] is s.spec
    # The chapter's configuration uses nothing beyond the chapter.
    assert all(RunConfig().get(s.name) == s.default for s in SETTINGS.values() if not s.spec.chapter)


def test_config_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, nin_core.network.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_seed_network_is_built_from_the_table_unchanged():
    """The settings beyond the chapter all at their defaults: the chapter's layers, parameter for parameter."""
    model = build_model(RunConfig().arch)
    assert [type(m).__name__ for m in model[0]] == ["Conv2d", "ReLU"] * 3
    assert sum(p.numel() for p in model.parameters()) == 1_992_166
    assert torch.is_tensor(model(torch.zeros(1, 1, 224, 224)))

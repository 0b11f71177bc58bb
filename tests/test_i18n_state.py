"""中文 / English for the shared state: a run's stored message and hint shown in the reader's language, the
configuration file's upload, a link's issues, the model picker's labels, the data and device messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import APP, rendered
from streamlit.testing.v1 import AppTest
from test_i18n import CJK, english_words, page_in

from nin_core.i18n import in_language
from nin_core.network import hints
from nin_core.network.config import TINY, RunConfig
from nin_core.network.data import DataNotFoundError, find_dataset
from nin_core.network.hints import shown_message
from nin_core.network.status import RunStatus
from nin_core.network.train import slow_start_hint, stalled_hint
from nin_core.runs.models import ModelChoice
from nin_core.runs.urlconfig import decode

# --- a run's message and hint: stored in English, shown in the reader's language --------------------------------

def test_a_stored_hint_and_message_read_in_both_languages():
    hint = stalled_hint(10)  # what the worker stores, whatever the reader's language
    message = hints.STALLED.format(epoch=1, batches=5, loss="2.303", accuracy="0.100")
    assert not CJK.search(hint) and not CJK.search(message)
    assert shown_message(hint) == hint and shown_message(message) == message  # English: as stored
    with in_language("zh"):
        assert stalled_hint(10) == hint  # the store stays English on a Chinese page too
        shown_hint, shown = shown_message(hint), shown_message(message)
        assert "ln 10 = 2.303" in shown_hint and "（0.100）" in shown_hint and "学习率" in shown_hint
        assert "批量规范化" in shown_hint and "xavier" in shown_hint
        assert shown == ("在第 1 个迭代周期停滞在随机水平：每个类别的特征图连续 5 个批量全为零"
                         "（损失 2.303，准确率 0.100）")
        assert "AdamW" in shown_message(slow_start_hint(TINY.with_overrides(optimizer="sgd")))
        assert "0.003" in shown_message(slow_start_hint(TINY)) and CJK.search(shown_message(slow_start_hint(TINY)))
        assert shown_message(hints.DIVERGED.format(loss=float("nan"), epoch=2)) == "损失在第 2 个迭代周期变成了 nan"
        assert shown_message(hints.STOPPED.format(epoch=3, batch=7)) == "在第 3 个迭代周期的第 7 个批量处停止"
        assert shown_message("CPU (4 threads)") == "CPU（4 个线程）"
        assert shown_message("CPU (1 thread)") == "CPU（1 个线程）"
        # what no template wrote (a crash's own words) is shown as it was stored
        assert shown_message("RuntimeError: boom") == "RuntimeError: boom" and shown_message(None) is None


def test_every_trainer_template_is_told_apart():
    """Each template reads back only its own texts, so no stored message is shown as another."""
    filled = {t: t.replace("{", "<").replace("}", ">") for t in hints.TEMPLATES}
    for template, text in filled.items():
        matching = [t for t in hints.TEMPLATES if hints._pattern(t).fullmatch(text)]
        assert matching == [template], (template, matching)


# --- a link's issues -------------------------------------------------------------------------------------------

def test_a_links_issues_read_in_chinese():
    with in_language("zh"):
        decoded = decode({"preset": "nope", "lr": "fast", "blocks": "96-x"}, default="tiny")
    issues = {i.field: i.message for i in decoded.unreadable}
    assert sorted(issues) == ["blocks", "lr", "preset"]
    assert all(CJK.search(message) for message in issues.values()), issues
    assert "未知的预设" in issues["preset"] and "tiny" in issues["preset"]
    assert "保持为 0.003" in issues["lr"] and "第 1 个块" in issues["blocks"]
    english = decode({"preset": "nope"}, default="tiny").unreadable[0].message
    assert english.startswith("unknown preset") and not CJK.search(english)


# --- the model picker's labels -------------------------------------------------------------------------------

def test_model_choice_labels_read_in_chinese_and_keep_their_value():
    run = ModelChoice("#3 my run (finished, test acc 91.0%)", Path("x.pt"), 0.91, 3, True, "my run",
                      RunStatus.FINISHED)
    stopped = ModelChoice("#4 other (stopped)", Path("y.pt"), None, 4, False, "other", RunStatus.STOPPED)
    demo = ModelChoice("Demo model (test acc 90.0%)", Path("demo.pt"), 0.9)
    assert [c.shown_label for c in (run, stopped, demo)] == [c.label for c in (run, stopped, demo)]
    with in_language("zh"):
        assert run.shown_label == "#3 my run（已完成，测试准确率 91.0%）"
        assert stopped.shown_label == "#4 other（已停止）"
        assert demo.shown_label == "演示模型（测试准确率 90.0%）"
        assert run.label == "#3 my run (finished, test acc 91.0%)"  # the picker's value: the same in any language


@pytest.mark.slow
@pytest.mark.usefixtures("no_demo")
def test_the_model_picker_reads_in_chinese_and_keeps_the_choice_across_languages(nin_home):
    from test_page_predict import finished_run

    first, _ = finished_run(nin_home, "first")
    second, _ = finished_run(nin_home, "second")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "zh"
    at.switch_page("pages/predict.py").run()
    assert not at.exception, at.exception
    box = at.selectbox[0]
    assert box.label == "模型"
    assert box.options == [f"#{second} second（已完成，测试准确率 25.0%）",
                           f"#{first} first（已完成，测试准确率 25.0%）"]
    box.set_value(f"#{first} first (finished, test acc 25.0%)").run()  # the value: English, language-free
    assert not at.exception, at.exception
    at.query_params["lang"] = "en"  # as the switch does
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox[0].value == f"#{first} first (finished, test acc 25.0%)"
    assert at.selectbox[0].options[1] == f"#{first} first (finished, test acc 25.0%)"


# --- the configuration file: download and upload -------------------------------------------------------------

def training_page(lang: str) -> AppTest:
    return page_in(lang, preset="tiny")


def upload(at: AppTest, label: str, name: str, data: bytes) -> AppTest:
    (uploader,) = [u for u in at.file_uploader if u.label == label]
    uploader.set_value((name, data, "application/json")).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_a_bad_configuration_file_is_explained_in_chinese(nin_home):
    at = training_page("zh")
    bad = json.dumps({"train": {"lr": 0.01, "speed": 3}, "extra": 1}).encode()
    upload(at, "加载配置（JSON）", "bad.json", bad)
    (error,) = at.error
    said = rendered(error.value)
    assert said.startswith("bad.json 未被加载；没有做任何更改。") and "extra" in said and "train.speed" in said, said
    assert not english_words(said.replace("bad.json", "").replace("train.speed", "").replace("extra", "")), said
    upload(at, "加载配置（JSON）", "bad.json", b"\xff\xfe not text")
    assert rendered(at.error[0].value) == "bad.json 不是文本文件；没有做任何更改。"
    upload(at, "加载配置（JSON）", "not-json.json", b"{")
    assert "不是有效的 JSON" in rendered(at.error[0].value)
    # the message follows a language switch: it is written by the page, not stored by the upload's callback
    at.query_params["lang"] = "en"  # as the switch does
    at.run()
    assert not at.exception, at.exception
    assert rendered(at.error[0].value).startswith("not-json.json was not loaded; nothing was changed. config is not "
                                                 "valid JSON")
    # a good file loads, with a toast in the reader's language
    at.query_params["lang"] = "zh"
    at.run()
    upload(at, "加载配置（JSON）", "good.json", TINY.with_overrides(epochs=3).to_json().encode())
    assert not at.error
    assert [rendered(t.value) for t in at.toast] == ["已加载 good.json。"]
    assert at.query_params["epochs"] in ("3", ["3"])


@pytest.mark.slow
def test_the_configuration_files_buttons_read_in_english(nin_home):
    at = training_page("en")
    upload(at, "Load a configuration (JSON)", "bad.json", b'{"train": {"speed": 3}}')
    said = rendered(at.error[0].value)
    assert said == "bad.json was not loaded; nothing was changed. train.speed is not a setting."
    assert not CJK.search(said)


# --- data, device and configuration messages: in the language of whoever reads them -----------------------------

def test_data_and_device_messages_read_in_both_languages(tmp_path):
    from nin_core.network.devices import resolve_device

    with in_language("zh"):
        with pytest.raises(DataNotFoundError) as caught:
            find_dataset(tmp_path / "typo")
        message = str(caught.value)
        assert "不存在" in message and "可用以下三种方式之一获取" in message and str(tmp_path / "typo") in message
        with pytest.raises(Exception) as device:
            resolve_device("cuda:99")
        assert "指定了 cuda:99" in str(device.value)
        with pytest.raises(Exception) as config:
            RunConfig.from_json('{"arch": []}')
        assert "必须是 JSON 对象" in str(config.value)
    with pytest.raises(DataNotFoundError) as caught:
        find_dataset(tmp_path / "typo")
    assert "does not exist" in str(caught.value) and not CJK.search(str(caught.value))

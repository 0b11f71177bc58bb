"""``python -m nin_core`` in Chinese (``--lang zh``) and in English: every subcommand's help, its errors, its listing
of runs and its progress line; the seed's closing lines stay as the book prints them in both."""

from __future__ import annotations

import math
import re

import pytest
from test_i18n import CJK, english_words
from test_page_runs import finished_run

from nin_core.cli import COMMANDS, _print_progress, _report
from nin_core.i18n import in_language
from nin_core.network.config import TINY
from nin_core.network.hints import STOPPED_BEFORE_START
from nin_core.network.metrics import Phase, Progress
from nin_core.network.status import RunStatus
from nin_core.runs.groups import queue_group

# What the Chinese help may keep in Latin letters beside test_i18n's NAMES: names of programs and libraries, the
# settings' values (true, onecycle, xavier, …), the subcommands' names and the positional arguments' names.
ALLOWED = {"optuna", "pytorch", "sqlalchemy", "batchnorm2d", "distributeddataparallel", "nesterov", "torchrun",
           "eager", "python", "c", "n", "true", "false", "text", "json", "csv", "all", "none", "default", "fc", "gap",
           "flip", "constant", "cosine", "onecycle", "step", "xavier", "asha", "tpe", "image", "images", "number",
           "nan", *COMMANDS}
# Flags, {choices}, [optional parts], METAVARS and code-like values (lr=0.01..0.5:log, summary.json, sqlite:///…).
NOT_WORDS = re.compile(r"--?[\w-]+|\{[^}]*\}|\[[^\]]*\]|\b[A-Z][A-Z_]+\b|\S*[=_./:]\S*")


def left_in_english(text: str) -> list[str]:
    return [w for w in english_words(NOT_WORDS.sub(" ", text)) if w.lower() not in ALLOWED]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_subcommands_help_in_chinese_leaves_no_english(cli_main, command):
    code, out, _err = cli_main("--lang", "zh", *[c for c in [command] if c], "--help")
    assert code == 0
    usage, body = out.split("\n\n", 1)
    assert usage.startswith("用法：python -m nin_core") and "选项:" in body
    assert "显示此帮助信息并退出" in body
    left = {line: left_in_english(line) for line in body.splitlines() if left_in_english(line)}
    assert not left, left


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_subcommands_help_in_english_has_no_chinese(cli_main, command):
    code, out, _err = cli_main("--lang", "en", *[c for c in [command] if c], "--help")
    assert code == 0 and out.startswith("usage: python -m nin_core") and "options:" in out
    assert not CJK.search(out), [line for line in out.splitlines() if CJK.search(line)]


def test_the_subcommands_help_follows_the_language_chosen_after_import(cli_main):
    """COMMANDS is declared at import time: its help is translated when the parser is built."""
    _code, zh, _err = cli_main("--lang", "zh", "--help")
    _code, en, _err = cli_main("--lang", "en", "--help")
    assert "列出已记录的运行" in zh and "list the recorded runs" in en
    _code, runs_help, _err = cli_main("--lang", "zh", "runs", "--help")
    assert "列出已记录的运行" in runs_help and "输出格式（默认：text）" in runs_help


@pytest.mark.parametrize("lang, said", [
    ("zh", "错误：--images 必须在 1 到 60000 之间，得到的是 0\n"),
    ("en", "error: --images must be between 1 and 60000, got 0\n"),
])
def test_bad_input_is_said_in_one_line_in_the_language(cli_main, lang, said):
    code, out, err = cli_main("--lang", lang, "bench", "--images", "0")
    assert (code, out, err) == (2, "", said)


def test_errors_about_a_run_name_its_status_in_chinese(cli_main, store):
    run_id = finished_run(store, "tiny", 0.7)
    code, _out, err = cli_main("--lang", "zh", "train", "--run-id", str(run_id))
    assert code == 2 and err == f"错误：运行 {run_id} 的状态为已完成，不在队列中：只能训练排队中的运行\n"
    code, _out, err = cli_main("--lang", "zh", "predict", "--run", str(run_id), "x.png")
    assert code == 2 and err == f"错误：运行 {run_id} 还没有检查点（状态：已完成）\n"
    code, _out, err = cli_main("--lang", "en", "predict", "--run", str(run_id), "x.png")
    assert code == 2 and err == f"error: run {run_id} has no checkpoint yet (status finished)\n"


@pytest.fixture
def listed_runs(store):
    """Two finished runs, and a group of two seeds of which one diverged."""
    ids = [finished_run(store, "tiny", acc) for acc in (0.7, 0.8)]
    group = queue_group(store, TINY.with_overrides(repeats=2), "tiny")
    for run_id in group:
        store.mark_running(run_id, "cpu")
    store.finish(group[0], RunStatus.FINISHED, final={"train_loss": 0.6, "train_acc": 0.75, "test_acc": 0.74})
    store.finish(group[1], RunStatus.DIVERGED, final={"train_loss": math.nan}, message="the loss became nan in epoch 1")
    return ids + group


def test_runs_in_chinese(cli_main, listed_runs):
    code, out, err = cli_main("--lang", "zh", "runs")
    assert code == 0 and not err
    lines = out.splitlines()
    assert len(lines) == 5
    assert any("分组" in line and "2 个种子，测试准确率" in line for line in lines), out
    assert any(line.split()[:2] == [str(listed_runs[0]), "已完成"] and line.endswith(
        "损失 0.700、训练准确率 0.700、测试准确率 0.700") for line in lines), out
    assert any("已发散" in line for line in lines), out
    left = {line: left_in_english(line) for line in lines if left_in_english(line)}
    assert not left, left


def test_runs_in_english_as_before(cli_main, listed_runs):
    code, out, _err = cli_main("--lang", "en", "runs")
    assert code == 0 and not CJK.search(out), out
    row = f"{listed_runs[0]:>4}  {'finished':<11}  {'tiny':<24}  loss 0.700, train acc 0.700, test acc 0.700"
    assert row in out.splitlines()
    assert "group" in out and "2 seeds, test acc " in out and "diverged" in out


def test_no_runs_yet(cli_main, nin_home):
    assert cli_main("--lang", "zh", "runs")[1] == (
        "还没有运行：python -m nin_core train --preset tiny\n")
    assert cli_main("--lang", "en", "runs")[1] == (
        "no runs yet: python -m nin_core train --preset tiny\n")


@pytest.mark.parametrize("lang, said", [
    ("zh", "\r[运行 3，训练中] 迭代周期 2/10 批量 5/100 损失 0.500 准确率 0.812 测试准确率 0.790 预计还需 42 秒   "),
    ("en", "\r[run 3, training] epoch 2/10 batch 5/100 loss 0.500 acc 0.812 test acc 0.790 ETA 42s   "),
])
def test_the_progress_line_in_the_language(capsys, lang, said):
    with in_language(lang):
        _print_progress(Progress(phase=Phase.TRAINING, epoch=2, epochs=10, batch=5, batches=100, train_loss=0.5,
                                 train_acc=0.8123, test_acc=0.79, eta_s=42.0), run_id=3)
    assert capsys.readouterr().err == said


def test_a_runs_end_keeps_the_seeds_closing_lines_and_says_the_rest_in_the_language(capsys, store):
    done = store.get_run(finished_run(store, "tiny", 0.8))
    stopped = store.create_run(TINY, "tiny")
    store.finish(stopped, RunStatus.STOPPED, message=STOPPED_BEFORE_START)
    printed = {}
    for lang in ("zh", "en"):
        with in_language(lang):
            assert _report(done) == 0 and _report(store.get_run(stopped)) == 1
        printed[lang] = capsys.readouterr()
    closing = "loss 0.700, train acc 0.700, test acc 0.800\n900.0 examples/sec on cpu\n"
    assert printed["zh"].out == printed["en"].out == closing
    assert printed["en"].err == f"run {stopped} stopped: stopped before it started\n"
    assert printed["zh"].err.startswith(f"运行 {stopped} 已停止：") and not left_in_english(printed["zh"].err)


def test_shapes_of_a_size_too_small_prints_its_table_in_chinese_too(cli_main):
    """The size problem is recognised as it is in English (not by its words): the rows, then the reason, exit 2."""
    for lang, said in (("zh", "错误：第三个最大汇聚层"), ("en", "error: the third max-pool")):
        code, out, err = cli_main("--lang", lang, "shapes", "--resize", "60")
        assert code == 2 and "[1, 384, 2, 2]" in out and err.startswith(said) and err.count("\n") == 1, err


@pytest.mark.parametrize("lang, said", [
    ("zh", "错误：无法读取 /no/such/file.json：没有那个文件或目录\n"),
    ("en", "error: cannot read /no/such/file.json: No such file or directory\n"),
])
def test_a_file_that_cannot_be_read_says_why_in_the_language(cli_main, lang, said):
    assert cli_main("--lang", lang, "shapes", "--config", "/no/such/file.json") == (2, "", said)

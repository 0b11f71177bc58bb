"""``python -m nin_core``: shapes, train, predict, inspect, runs, bench, exercise, code, search (and ``work``, the
dashboard's background trainer).

Bad input of any kind gets one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from nin_core.i18n import LANGUAGES, N_, _, language_of, ngettext, reset_language, set_language
from nin_core.network.config import PRESETS, SETTINGS, ConfigError, ConfigIssue, RunConfig, parse_setting, preset
from nin_core.network.settings import format_value, help_text
from nin_core.network.status import RunStatus

EXIT_BAD_INPUT = 2
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")  # a wide character, Chinese
# Image files larger than this are refused unread: a 40-megapixel RGB BMP (120 MB) still fits.
MAX_IMAGE_FILE_BYTES = 128 << 20


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit 2."""


# What Chinese help wraps on: a space, a wide (Chinese) character on its own (a line may break between any two), or a
# run of other characters (a word, a number, a flag), never broken.
_TOKENS = re.compile(r" |[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[^ \u2e80-\u9fff\uf900-\ufaff"
                     r"\ufe30-\ufe4f\uff00-\uffef]+")
_CLOSING = set("，。；：、）！？」』】")  # punctuation no line begins with
_OPENING = set("（「『【")  # and none ends with


class _Formatter(argparse.HelpFormatter):
    """argparse's help in the reader's language: its "usage: " translated, Chinese wrapped by the columns it takes."""

    def _format_usage(self, usage, actions, groups, prefix):
        prefix = _("usage: ") if prefix is None else prefix
        spacer = " " * _width(prefix)  # argparse indents the usage's next lines by len(prefix): a Chinese one is wider
        return prefix + super()._format_usage(usage, actions, groups, spacer)[len(spacer):]

    def _split_lines(self, text, width):
        if not CJK.search(text):
            return super()._split_lines(text, width)
        lines, line = [], ""
        for token in _TOKENS.findall(" ".join(text.split())):
            if line and _width(line + token) > width and token not in _CLOSING:
                carried = line[-1] if line[-1] in _OPENING else ""  # nor ends with
                lines.append(line[:len(line) - len(carried)].rstrip())
                line = carried
            if line or token != " ":
                line += token
        return [*lines, line.rstrip()] if line.strip() else lines


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its help in the reader's language: the headings and -h's help (argparse's own messages
    come from Python's gettext domain, which has no Chinese), errors as one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = _("show this help message and exit")

    def error(self, message: str):  # argparse's own errors: one line, not the usage block
        raise UsageError(message)


NETWORK_SETTINGS = [name for name, s in SETTINGS.items() if s.section == "arch"]
SETTING_DEST = "setting_"  # where argparse keeps each setting's flag: setting_lr, setting_batch_norm, …


def _config_args(p: argparse.ArgumentParser, settings: list[str]) -> None:
    """--preset or --config, then a flag for each of ``settings`` (named as the setting: --batch-size), read by
    the same parser as a link's values and checked by the same validation as every other surface."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=list(PRESETS), help=_("a named configuration (default: seed)"))
    src.add_argument("--config", type=Path, help=_("a configuration JSON file, as the dashboard downloads it"))
    _setting_args(p, settings)


def _setting_args(p: argparse.ArgumentParser, settings: list[str]) -> None:
    """A flag for each of ``settings``, named as the setting (--batch-size), read by ``_overrides``."""
    for name in settings:
        s = SETTINGS[name]
        extra: dict[str, Any] = ({"nargs": "?", "const": "true", "metavar": "true|false"} if s.kind is bool
                                 else {"metavar": "VALUE"})
        if name == "blocks":
            extra["metavar"] = "C-K-S-P,…"
        described = _("{label}: {help} (seed: {value})").format(label=_(s.spec.label), help=help_text(s),
                                                                value=format_value(s.default))
        p.add_argument(s.flag, dest=SETTING_DEST + name, help=described.replace("%", "%%"), **extra)


def _overrides(args: argparse.Namespace) -> dict:
    """The settings given as flags, read from their text; every flag that cannot be read is named at once."""
    values, issues = {}, []
    for key, text in vars(args).items():
        if key.startswith(SETTING_DEST) and text is not None:
            name = key[len(SETTING_DEST):]
            value, problem = parse_setting(name, text)
            if problem:
                issues.append(ConfigIssue(SETTINGS[name].path, problem))
            else:
                values[name] = value
    if issues:
        raise ConfigError(issues)
    return values


# The operating system's reasons a file cannot be read or written, as the C library says them in English.
OS_REASONS = {errno.ENOENT: N_("No such file or directory"), errno.EACCES: N_("Permission denied"),
              errno.EISDIR: N_("Is a directory"), errno.ENOTDIR: N_("Not a directory"),
              errno.ENOSPC: N_("No space left on device"), errno.EROFS: N_("Read-only file system")}


def _os_reason(e: OSError) -> str:
    """Why a file could not be read or written, in the reader's language where the reason is a common one."""
    return _(OS_REASONS[e.errno]) if e.errno in OS_REASONS else str(e.strerror or e)


def _load_config(args: argparse.Namespace) -> RunConfig:
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as e:
            raise UsageError(_("cannot read {path}: {reason}").format(path=args.config, reason=_os_reason(e))) from None
        except UnicodeDecodeError:
            raise UsageError(_("{path} is not a text file").format(path=args.config)) from None
        config = RunConfig.from_json(text)
    else:
        config = preset(args.preset or "seed")
    return config.with_overrides(**_overrides(args))


def _stored_run(run_id: int):
    """The recorded run with this id; no such run is bad input."""
    from nin_core.runs.store import RunNotFound, RunStore

    try:
        return RunStore().get_run(run_id)
    except RunNotFound as e:
        raise UsageError(str(e)) from None


def _stop_on_signal() -> Callable[[], bool]:
    """From now on Ctrl-C or SIGTERM asks training to stop cleanly: the batch finishes, the checkpoint is saved, the
    run is recorded as stopped, runs not started yet are not started. Returns whether a stop was asked."""
    asked = threading.Event()

    def on_signal(signum, frame):
        asked.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C does not wait

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return asked.is_set


# A run's final metrics as the run listing and a group's summary name them (the seed's closing lines keep theirs).
METRICS = {"train_loss": N_("loss"), "train_acc": N_("train acc"), "test_acc": N_("test acc")}


def _print_progress(p, run_id: int | None = None) -> None:
    """Where training is, as one line on stderr redrawn in place (``run_id``: which of several runs it is)."""
    phase = p.phase.label  # a Phase while it trains, the RunStatus it ended with
    where = phase if run_id is None else _("run {id}, {phase}").format(id=run_id, phase=phase)
    said = [_("epoch {epoch}/{epochs} batch {batch}/{batches}").format(epoch=p.epoch, epochs=p.epochs, batch=p.batch,
                                                                       batches=p.batches)]
    if p.train_loss is not None:
        said.append(_("loss {loss} acc {acc}").format(loss=f"{p.train_loss:.3f}", acc=f"{p.train_acc:.3f}"))
    if p.test_acc is not None:
        said.append(_("test acc {acc}").format(acc=f"{p.test_acc:.3f}"))
    if p.eta_s:
        said.append(_("ETA {seconds}s").format(seconds=f"{p.eta_s:.0f}"))
    print(f"\r[{where}] {' '.join(said)}   ", end="", file=sys.stderr, flush=True)


def _metrics_text(final: dict) -> str:
    """A run's final loss and accuracies (``loss 0.512, train acc 0.810, test acc 0.795`` in English)."""
    return _(", ").join(_(label) + f" {final[key]:.3f}" for key, label in METRICS.items() if final.get(key) is not None)


def _width(text: str) -> int:
    """How many columns a terminal gives ``text``: two for each wide (Chinese) character."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` columns, as ``f"{text:<{width}}"`` aligns English."""
    return text + " " * max(0, width - _width(text))


def _shapes_args(p: argparse.ArgumentParser) -> None:
    _config_args(p, [*NETWORK_SETTINGS, "batch_size", "precision"])  # the two the memory totals depend on
    p.add_argument("--format", choices=("text", "json", "csv"), default="text", help=_("output format (default: text)"))


# The settings a network's smallest input depends on: when one is invalid, no size problem is said.
SIZE_FIELDS = {"arch.resize", "arch.pool_kernel", "arch.pool_stride", "arch.pointwise_convs", "arch.head"}


def cmd_shapes(args: argparse.Namespace) -> int:
    from nin_core.network.geometry import size_problem
    from nin_core.network.memory import memory_estimate
    from nin_core.network.shapes import shape_table

    config = _load_config(args)
    # A size too small is what the table itself shows; anything else wrong stops here. That issue is the one
    # size_problem writes (validate asks it when the settings it reads are valid), in any language.
    issues = config.validate()
    fields = {i.field for i in issues}
    too_small = (size_problem(config.arch, config.arch.resize)
                 if "arch.resize" in fields and not fields & (SIZE_FIELDS - {"arch.resize"}) else None)
    others = [i for i in issues if i.field != "arch.resize" or i.message != too_small]
    if others:
        raise ConfigError(others)
    table = shape_table(config.arch)
    if table.ok:  # the memory of a training step and of inference, as the Shapes page shows beside its table
        table = replace(table, memory=memory_estimate(config))
    print({"text": table.to_text, "json": table.to_json, "csv": table.to_csv}[args.format]().rstrip("\n"))
    if not table.ok:
        print(_("error: {message}").format(message=table.error), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    _config_args(p, list(SETTINGS))
    p.add_argument("--name", help=_("a name for the run"))
    p.add_argument("--run-id", type=int, help=_("train this queued run, with its stored configuration"))
    p.add_argument("--resume", type=int, metavar="RUN_ID",
                   help=_("continue a stopped, interrupted or finished run from its last checkpoint, to --epochs in "
                          "all (default: its own epochs)"))
    p.add_argument("--quiet", action="store_true", help=_("no progress line"))


def cmd_train(args: argparse.Namespace) -> int:
    from nin_core.network.distributed import from_environment, shutdown

    if args.resume is not None:  # an ended run, queued again to train on, then trained here as a queued run
        args.run_id = _queue_continuation(args)
    if args.run_id is not None:  # a run queued already (the worker's torchrun launch): its own configuration
        run = _stored_run(args.run_id)
        if run.status != RunStatus.QUEUED:
            raise UsageError(_("run {id} is {status}, not queued: only a queued run can be trained").format(
                id=run.id, status=run.status.label))
        config = run.config
    else:
        config = _load_config(args)
    dist = from_environment(config.train.device)  # under torchrun: this process's rank
    try:
        code = _train(args, config, dist)
        if dist:  # leave together: a process that exits while another still talks to it aborts it
            dist.barrier()
        return code
    finally:
        shutdown()


def _queue_continuation(args: argparse.Namespace) -> int:
    """``--resume RUN_ID [--epochs N]``: the run queued again, claimed by this process; its id."""
    from nin_core.runs.jobs import continue_run
    from nin_core.runs.store import RunStore

    given = {k for k, v in vars(args).items() if k.startswith(SETTING_DEST) and v is not None}
    if given - {SETTING_DEST + "epochs"} or args.preset or args.config or args.run_id is not None:
        raise UsageError(_("--resume continues a run with its own configuration: only --epochs may go with it"))
    run = _stored_run(args.resume)
    epochs = _overrides(args).get("epochs", run.config.train.epochs)
    try:
        reached = continue_run(RunStore(), run.id, epochs, claim=True)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(_("run {id}: continuing from epoch {reached} to {epochs}").format(id=run.id, reached=f"{reached:g}",
                                                                          epochs=epochs), file=sys.stderr)
    return run.id


def _train(args: argparse.Namespace, config: RunConfig, dist) -> int:
    from nin_core.network.hints import STOPPED_BEFORE_START
    from nin_core.network.train import Trainer
    from nin_core.runs.groups import Group, queue_group
    from nin_core.runs.jobs import run_training
    from nin_core.runs.store import RunStore

    _check_ready(config, dist)
    should_stop = _stop_on_signal()
    if dist and not dist.is_main:  # rank 0 records the run; the others only train their part
        Trainer(config, should_stop=should_stop, dist=dist).run()
        return 0
    store = RunStore()
    if args.run_id is not None:
        ids = [args.run_id]
    elif dist and config.train.repeats > 1:
        raise UsageError(_("--repeats trains one seed after another: under torchrun, launch each seed on its own"))
    else:
        ids = queue_group(store, config, args.name, claim=True)
    codes = []
    for run_id in ids:
        if should_stop():  # Ctrl-C during a seed: the seeds after it are not trained
            store.finish(run_id, RunStatus.STOPPED, message=STOPPED_BEFORE_START)  # stored in English
            continue
        print(_("run {id}: training in {home} (stop with Ctrl-C)").format(id=run_id, home=store.home), file=sys.stderr)
        run_training(store, run_id, on_progress=None if args.quiet else _print_progress, should_stop=should_stop,
                     dist=dist)
        print(file=sys.stderr)
        codes.append(_report(store.get_run(run_id)))  # the record, also when torchrun's processes trained it
    if len(ids) > 1:
        _report_group(Group(tuple(store.get_run(i) for i in ids)))
    return max(codes, default=1)


def _report_group(group) -> None:
    """A group's mean ± sd of each final metric, and what makes its figures partial."""
    said = [_(label) + " " + spread.text() for metric, label in METRICS.items()
            if (spread := group.spread(metric)) is not None]
    print(ngettext("{name}, {n} seed: {metrics}", "{name}, {n} seeds: {metrics}", len(group.runs)).format(
        name=group.name, n=len(group.runs), metrics=_(", ").join(said) or _("no final metrics")))
    if group.problems():
        print(f"{group.name}: {group.problems()}", file=sys.stderr)


def _check_ready(config: RunConfig, dist) -> None:
    """Bad settings, a missing device or no data set: bad input, said before anything is recorded."""
    from nin_core.network.data import find_dataset
    from nin_core.runs.jobs import launch_issues

    issues = launch_issues(config)
    if issues:
        raise ConfigError(issues)
    if dist is None or dist.local_rank == 0:  # one download per machine, not one per process
        find_dataset(config.train.data_dir)
    if dist:
        dist.barrier()


def _report(run) -> int:
    """A trained run's end: the seed's closing lines on stdout, anything to know on stderr; the exit status."""
    from nin_core.network.hints import shown_message
    from nin_core.network.train import closing_lines

    if run.final:
        print(closing_lines(run.final, run.device))
    if run.status != RunStatus.FINISHED or run.message:
        said = _("run {id} {status}: {message}").format(id=run.id, status=run.status.label,
                                                        message=shown_message(run.message))
        hint = "\n" + _("hint: {hint}").format(hint=shown_message(run.hint)) if run.hint else ""
        print(said + hint, file=sys.stderr)
    return 0 if run.status == RunStatus.FINISHED else 1


def _read_image_file(path: Path) -> bytes:
    """The file's bytes, at most MAX_IMAGE_FILE_BYTES of them (a device such as /dev/zero never ends)."""
    with open(path, "rb") as f:
        data = f.read(MAX_IMAGE_FILE_BYTES + 1)
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise UsageError(_("{path} is larger than {mb} MB: not an image this program reads").format(
            path=path, mb=MAX_IMAGE_FILE_BYTES >> 20))
    return data


def _model_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=int, help=_("a run id (python -m nin_core runs)"))
    src.add_argument("--checkpoint", type=Path, help=_("a checkpoint file, as training saves it"))


def _predictor(args: argparse.Namespace):
    """The trained model that ``--run`` or ``--checkpoint`` names."""
    from nin_core.network.predict import Predictor

    if args.run is not None:
        run = _stored_run(args.run)
        if not run.checkpoint:
            raise UsageError(_("run {id} has no checkpoint yet (status {status})").format(id=args.run,
                                                                                          status=run.status.label))
        checkpoint = run.checkpoint
    else:
        checkpoint = args.checkpoint
    return Predictor.from_checkpoint(checkpoint)


def _predict_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("images", nargs="+", type=Path, help=_("image files (PNG, JPEG, …)"))
    p.add_argument("--top-k", type=int, default=3, help=_("how many classes to name for each image (default 3)"))
    p.add_argument("--format", choices=("text", "json"), default="text", help=_("output format (default: text)"))


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = _predictor(args)
    if not 1 <= args.top_k <= predictor.config.arch.num_classes:
        raise UsageError(_("--top-k must be between 1 and {n}, got {value}").format(
            n=predictor.config.arch.num_classes, value=args.top_k))
    out, failed = [], 0
    for path in args.images:
        try:
            [p] = predictor.predict_files([(str(path), _read_image_file(path))], top_k=args.top_k)
            error = p.error
        except OSError as e:
            error = _("cannot read {path}: {reason}").format(path=path, reason=_os_reason(e))
        except UsageError as e:
            error = str(e)
        failed += error is not None
        out.append({"image": str(path), "error": error} if error else
                   {"image": str(path), "inverted": p.inverted,
                    "top_k": [{"class": c, "probability": round(prob, 6)} for c, prob in p.top_k], "notes": p.notes})
    if args.format == "json":
        print(json.dumps(out, indent=2))
    else:
        for item in out:
            if item.get("error"):
                print(_("{image}: error: {error}").format(image=item["image"], error=item["error"]))
            else:  # the classes in the reader's language (JSON keeps the data set's own names)
                guesses = _(", ").join(_(g["class"]) + f" {g['probability']:.1%}" for g in item["top_k"])
                print(_("{image}: {guesses}").format(image=item["image"], guesses=guesses))
                for note in item["notes"]:
                    print(_("{image}: note: {note}").format(image=item["image"], note=note))
    return EXIT_BAD_INPUT if failed else 0


def _inspect_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("image", type=Path, help=_("an image file (PNG, JPEG, …)"))
    p.add_argument("--out", type=Path, required=True, help=_("the folder for the pictures and summary.json"))


def cmd_inspect(args: argparse.Namespace) -> int:
    from nin_core.lab.explorer import explore, write_pictures
    from nin_core.network.predict import ImageError, load_image

    predictor = _predictor(args)
    try:
        image = load_image(_read_image_file(args.image), str(args.image), size_hint=predictor.size)
    except OSError as e:
        raise UsageError(_("cannot read {path}: {reason}").format(path=args.image, reason=_os_reason(e))) from None
    except ImageError as e:
        raise UsageError(str(e)) from None
    x, view, inverted = predictor.model_input(image)
    about = {"image": str(args.image), "checkpoint": str(args.checkpoint or f"run {args.run}"), "inverted": inverted}
    try:
        summary = write_pictures(explore(predictor.model, x), view, predictor.class_names, args.out, about)
    except OSError as e:
        raise UsageError(_("cannot write to {path}: {reason}").format(path=args.out, reason=_os_reason(e))) from None
    n = len(summary["pictures"])
    print(ngettext("{image}: {predicted}; {n} picture and summary.json in {folder}",
                   "{image}: {predicted}; {n} pictures and summary.json in {folder}", n).format(
        image=args.image, predicted=_(summary["predicted"]), n=n, folder=args.out))
    return 0


def _runs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text", help=_("output format (default: text)"))


def cmd_runs(args: argparse.Namespace) -> int:
    from nin_core.runs.groups import group_runs
    from nin_core.runs.store import RunStore

    runs = RunStore().list_runs()
    if args.format == "json":
        # A diverged loss is NaN, which JSON has no word for: null.
        print(json.dumps([{"id": r.id, "name": r.name, "status": r.status, "group": r.group,
                           "config": r.config.to_dict(),
                           "final": {k: v if math.isfinite(v) else None for k, v in r.final.items()},
                           "device": r.device, "message": r.message, "checkpoint": r.checkpoint} for r in runs],
                         indent=2, allow_nan=False))
        return 0
    if not runs:
        print(_("no runs yet: python -m nin_core train --preset tiny"))
    for group in group_runs(runs):  # a group of seeds: its mean ± sd, then its runs, indented
        indent = "" if group.single else "  "
        if not group.single:
            acc = group.spread("test_acc")
            seeds = ngettext("{n} seed, test acc {acc}", "{n} seeds, test acc {acc}", len(group.runs)).format(
                n=len(group.runs), acc=acc.text() if acc else "—")
            problems = _(" ({problems})").format(problems=group.problems()) if group.problems() else ""
            label = _("group")
            print(f"{'':>4}  {_pad(label, 11)}  {_pad(group.name, 24)}  {seeds}{problems}")
        for r in group.by_seed:
            print(f"{indent}{r.id:>4}  {_pad(r.status.label, 11)}  {_pad(r.name, 24)}  {_metrics_text(r.final)}")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    _config_args(p, ["resize", "precision", "device"])
    p.add_argument("--images", type=int, default=1024,
                   help=_("training images each pipeline trains on (default 1024)"))
    p.add_argument("--repeats", type=int, default=1, metavar="N",
                   help=_("run each pipeline N times, taking turns; keep the fastest"))
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help=_("also time torch.compile against eager (default: on CUDA only)"))
    p.add_argument("--format", choices=("text", "json"), default="text", help=_("output format (default: text)"))


def cmd_bench(args: argparse.Namespace) -> int:
    from nin_core.lab.bench import run_bench, to_text
    from nin_core.network.config import FASHION_MNIST_TRAIN

    if not 1 <= args.images <= FASHION_MNIST_TRAIN:
        raise UsageError(_("--images must be between 1 and {n}, got {value}").format(n=FASHION_MNIST_TRAIN,
                                                                                    value=args.images))
    if args.repeats < 1:
        raise UsageError(_("--repeats must be at least 1, got {value}").format(value=args.repeats))
    config = _load_config(args)
    report = run_bench(config, args.images, config.train.device, args.repeats, args.compile)
    print(json.dumps(report, indent=2) if args.format == "json" else to_text(report))
    return 0


def _exercise_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("number", type=int, help=_("the exercise's number: 1 to 5"))
    _setting_args(p, ["train_size", "test_size", "epochs", "repeats", "batch_size"])
    p.add_argument("--format", choices=("text", "csv"), default="text",
                   help=_("csv: the table alone on stdout (the conclusion on stderr)"))
    p.add_argument("--quiet", action="store_true", help=_("no progress line"))


def cmd_exercise(args: argparse.Namespace) -> int:
    from nin_core.lab import exercises
    from nin_core.runs.store import RunStore

    try:
        ex = exercises.exercise(args.number)
    except ValueError as e:
        raise UsageError(str(e)) from None
    size = _overrides(args)
    if not isinstance(ex, exercises.Experiment):  # exercise 3 measures one step in a process of its own: no run
        return _measure_exercise(ex, size, RunStore(), args.format)
    if "batch_size" in size:
        raise UsageError(_("--batch-size is for exercise 3; exercise {n} changes --train-size, --test-size, "
                           "--epochs and --repeats").format(n=ex.number))
    return _train_exercise(ex.sized(**size), RunStore(), args)


def _measure_exercise(ex, size: dict, store, fmt: str) -> int:
    """Exercise 3: the resources of one training step, measured for a batch size."""
    from nin_core.lab import exercises

    if set(size) - {"batch_size"}:
        raise UsageError(_("exercise {n} trains nothing: only --batch-size applies to it").format(n=ex.number))
    batch = size.get("batch_size")
    if batch is not None and batch < 1:
        raise UsageError(_("--batch-size must be at least 1, got {value}").format(value=batch))
    frame = exercises.resource_frame(batch, exercises.measurements(store.home, batch, measure=True))
    _print_table(frame, exercises.resource_conclusion(frame), fmt)
    return 0


def _train_exercise(ex, store, args: argparse.Namespace) -> int:
    """Trains the exercise's variants not trained yet, then prints its table; 1 if Ctrl-C stopped it."""
    from nin_core.lab import exercises
    from nin_core.network.data import find_dataset
    from nin_core.runs.jobs import launch_issues

    issues = {str(i): i for config in ex.configs().values() for i in launch_issues(config)}
    if issues:
        raise ConfigError(list(issues.values()))
    find_dataset(ex.base.train.data_dir)  # no data set: one line now, not a failed run per variant
    should_stop = _stop_on_signal()
    print(_("{name}: training in {home} (stop with Ctrl-C)").format(name=ex.name, home=store.home), file=sys.stderr)
    exercises.train_exercise(store, ex, should_stop=should_stop,
                             on_progress=None if args.quiet else lambda run_id, p: _print_progress(p, run_id))
    print(file=sys.stderr)
    frame = exercises.result_frame(ex, store)
    if exercises.is_quick_look(ex):
        print(_("A quick look ({size}): its conclusion may differ from the one at the size as prepared "
                "({prepared}).").format(size=exercises.size_text(ex.size),
                                        prepared=exercises.size_text(exercises.prepared(ex).size)), file=sys.stderr)
    _print_table(frame, exercises.conclusion(ex, frame), args.format)
    return 1 if should_stop() else 0


def _print_table(frame, conclusion: str, fmt: str) -> None:
    """An exercise's table on stdout, then its conclusion: on stderr when stdout is CSV, to stay CSV alone."""
    from nin_core.lab.exercises import table_text

    print(frame.to_csv(index=False) if fmt == "csv" else table_text(frame))
    print(conclusion, file=sys.stderr if fmt == "csv" else sys.stdout)


def _code_args(p: argparse.ArgumentParser) -> None:
    _config_args(p, list(SETTINGS))


def cmd_code(args: argparse.Namespace) -> int:
    from nin_core.lab.export import export_script

    config = _load_config(args)
    issues = config.validate()
    if issues:
        raise ConfigError(issues)
    print(export_script(config), end="")
    return 0


def cmd_work(args: argparse.Namespace) -> int:
    from nin_core.runs.jobs import work
    from nin_core.runs.store import RunStore

    work(RunStore())
    return 0


def _search_args(p: argparse.ArgumentParser) -> None:
    from nin_core.lab.search import PRUNERS, SAMPLERS

    p.add_argument("--study", required=True, help=_("the study's name: the same name continues it"))
    p.add_argument("--param", action="append", default=[], metavar="SETTING[=RANGE|CHOICES]",
                   help=_("a setting to search: lr=0.01..0.5:log, batch_size=64,128,256, batch_norm (every value); "
                          "none: the study's own space (it must exist)"))
    p.add_argument("--trials", type=int, help=_("trials this worker runs (default 20 without --minutes)"))
    p.add_argument("--minutes", type=float, help=_("start no trial after this many minutes"))
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help=_("the sampler (default: tpe)"))
    p.add_argument("--pruner", choices=PRUNERS, default="asha", help=_("asha: successive halving"))
    p.add_argument("--base-first", action="store_true",
                   help=_("a new study's first trial: the base configuration's own values of the searched settings"))
    p.add_argument("--storage", help=_("where the study lives, shared by every worker: an SQLAlchemy URL "
                                       "(postgresql://user@host/db, mysql://…, sqlite:///file) or journal:PATH "
                                       "(default: search.db beside the run store)"))
    _config_args(p, list(SETTINGS))


def cmd_search(args: argparse.Namespace) -> int:
    """A search's trials in this process, each a run in the store; progress on stderr, the best configuration as
    JSON on stdout."""
    import optuna

    from nin_core.lab.search import SearchSpec, best_json, default_storage, parse_param, run_search, stored_spec
    from nin_core.runs.store import RunStore

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the trials' own lines say what Optuna's would
    store = RunStore()
    trials = args.trials if args.trials is not None or args.minutes is not None else 20
    if args.param:
        parsed = [parse_param(text) for text in args.param]
        issues = [issue for _, issue in parsed if issue]
        if issues:
            raise ConfigError(issues)
        spec = SearchSpec(args.study, tuple(p for p, _ in parsed if p), _load_config(args), args.sampler,
                          args.pruner, trials, args.minutes, args.storage, args.base_first)
    else:
        spec = replace(stored_spec(args.study, args.storage or default_storage(store)), sampler=args.sampler,
                       pruner=args.pruner, trials=trials, minutes=args.minutes, storage=args.storage)
    study = run_search(spec, store, say=lambda line: print(line, file=sys.stderr, flush=True),
                       should_stop=_stop_on_signal())
    print(best_json(study))  # null while no trial has completed (all pruned or failed so far)
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None] | None, Callable]] = {
    # name: its help (marked here, translated when the parser is built), what adds its arguments, what runs it; in
    # the order --help lists them
    "shapes": (N_("per-layer output shapes, parameters and multiply-adds"), _shapes_args, cmd_shapes),
    "train": (N_("train on Fashion-MNIST and record the run; or continue a run (--resume)"), _train_args, cmd_train),
    "predict": (N_("classify image files with a trained model"), _predict_args, cmd_predict),
    "inspect": (N_("every layer of a trained model on one image, as PNG files and summary.json"), _inspect_args,
                cmd_inspect),
    "runs": (N_("list the recorded runs"), _runs_args, cmd_runs),
    "bench": (N_("time the seed's training pipeline against nin_core's, and inference"), _bench_args, cmd_bench),
    "exercise": (N_("run one of the chapter's exercises as an experiment and print its table"), _exercise_args,
                 cmd_exercise),
    "code": (N_("a standalone PyTorch script that builds and trains the configuration"), _code_args, cmd_code),
    "search": (N_("search settings with Optuna, each trial a run judged on a validation split"), _search_args,
               cmd_search),
    "work": (N_("train queued runs one after another (the dashboard starts this)"), None, cmd_work),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser, its help in the current language: built after the language is chosen (``cli_language``)."""
    parser = _Parser(prog="python -m nin_core", description=_("Network in Network on Fashion-MNIST"))
    _language_arg(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (described, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=_(described), description=_(described))
        if add_arguments:
            add_arguments(p)
        p.set_defaults(func=run)
    return parser


def _language_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=list(LANGUAGES),
                        help=_("the language of the help and messages (default: from LC_ALL or LANG)"))


def cli_language(argv: list[str] | None) -> str:
    """``--lang`` before the command, else the shell's locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: zh_CN.UTF-8
    is Chinese), else English. Read first: the help texts are written when the parser is built."""
    first = _Parser(add_help=False, allow_abbrev=False)
    _language_arg(first)
    chosen = first.parse_known_args(argv)[0].lang
    locale = next((os.environ[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(v)), None)
    return chosen or language_of(locale)


def main(argv: list[str] | None = None) -> int:
    from nin_core.network.checkpoint import CheckpointError
    from nin_core.network.data import DataNotFoundError

    token = None
    try:
        token = set_language(cli_language(argv))
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BrokenPipeError:  # the reader went away (| head): nothing left to say
        sys.stderr.close()
        return 0
    except (UsageError, ConfigError, CheckpointError, DataNotFoundError) as e:
        message = " ".join(str(e).split())
        print(_("error: {message}").format(message=message), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:  # the caller's language again (a test, or a process that runs main more than once)
        if token is not None:
            reset_language(token)

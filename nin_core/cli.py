"""``python -m nin_core``: shapes, train, predict, inspect, runs, bench, exercise, code (and ``work``, the
dashboard's background trainer).

Bad input of any kind gets one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path

from nin_core.network.config import PRESETS, SETTINGS, ConfigError, ConfigIssue, RunConfig, parse_setting, preset
from nin_core.network.settings import format_value, help_text

EXIT_BAD_INPUT = 2
# Image files larger than this are refused unread: a 40-megapixel RGB BMP (120 MB) still fits.
MAX_IMAGE_FILE_BYTES = 128 << 20


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, not the usage block
        raise UsageError(message)


NETWORK_SETTINGS = [name for name, s in SETTINGS.items() if s.section == "arch"]
SETTING_DEST = "setting_"  # where argparse keeps each setting's flag: setting_lr, setting_batch_norm, …


def _config_args(p: argparse.ArgumentParser, settings: list[str]) -> None:
    """--preset or --config, then a flag for each of ``settings`` (named as the setting: --batch-size), read by
    the same parser as a link's values and checked by the same validation as every other surface."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=list(PRESETS), help="a named configuration (default: seed)")
    src.add_argument("--config", type=Path, help="a configuration JSON file, as the dashboard downloads it")
    _setting_args(p, settings)


def _setting_args(p: argparse.ArgumentParser, settings: list[str]) -> None:
    """A flag for each of ``settings``, named as the setting (--batch-size), read by ``_overrides``."""
    for name in settings:
        s = SETTINGS[name]
        extra = {"nargs": "?", "const": "true", "metavar": "true|false"} if s.kind is bool else {"metavar": "VALUE"}
        if name == "blocks":
            extra["metavar"] = "C-K-S-P,…"
        described = f"{s.spec.label}: {help_text(s)} (seed: {format_value(s.default)})"
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


def _load_config(args: argparse.Namespace) -> RunConfig:
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as e:
            raise UsageError(f"cannot read {args.config}: {e.strerror}") from None
        config = RunConfig.from_json(text)
    else:
        config = preset(args.preset or "seed")
    return config.with_overrides(**_overrides(args))


def cmd_shapes(args: argparse.Namespace) -> int:
    from nin_core.network.shapes import shape_table

    config = _load_config(args)
    # A size too small is what the table itself shows; anything else wrong stops here.
    others = [i for i in config.validate() if i.field != "arch.resize" or not i.message.startswith("resize ")]
    if others:
        raise ConfigError(others)
    table = shape_table(config.arch)
    print({"text": table.to_text, "json": table.to_json, "csv": table.to_csv}[args.format]().rstrip("\n"))
    if not table.ok:
        print(f"error: {table.error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from nin_core.network.distributed import from_environment, shutdown
    from nin_core.runs.store import RunNotFound, RunStore

    if args.resume is not None:  # an ended run, queued again to train on, then trained here as a queued run
        args.run_id = _queue_continuation(args)
    if args.run_id is not None:  # a run queued already (the worker's torchrun launch): its own configuration
        try:
            run = RunStore().get_run(args.run_id)
        except RunNotFound as e:
            raise UsageError(str(e)) from None
        if run.status != "queued":
            raise UsageError(f"run {run.id} is {run.status}, not queued: only a queued run can be trained")
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
    from nin_core.runs.store import RunNotFound, RunStore

    given = {k for k, v in vars(args).items() if k.startswith(SETTING_DEST) and v is not None}
    if given - {SETTING_DEST + "epochs"} or args.preset or args.config or args.run_id is not None:
        raise UsageError("--resume continues a run with its own configuration: only --epochs may go with it")
    store = RunStore()
    try:
        run = store.get_run(args.resume)
    except RunNotFound as e:
        raise UsageError(str(e)) from None
    epochs = _overrides(args).get("epochs", run.config.train.epochs)
    try:
        reached = continue_run(store, run.id, epochs, claim=True)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"run {run.id}: continuing from epoch {reached:g} to {epochs}", file=sys.stderr)
    return run.id


def _train(args: argparse.Namespace, config, dist) -> int:
    from nin_core.network.data import find_dataset
    from nin_core.network.train import Trainer, closing_lines
    from nin_core.runs.jobs import launch_issues, run_training
    from nin_core.runs.store import RunStore

    # Bad settings, a missing device or no data set: bad input, said before anything is recorded.
    issues = launch_issues(config)
    if issues:
        raise ConfigError(issues)
    if dist is None or dist.local_rank == 0:  # one download per machine, not one per process
        find_dataset(config.train.data_dir)
    if dist:
        dist.barrier()
    stop = {"asked": False}

    def on_signal(signum, frame):  # Ctrl-C or SIGTERM: finish the batch, save, record the run as stopped
        stop["asked"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C does not wait

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if dist and not dist.is_main:  # rank 0 records the run; the others only train their part
        Trainer(config, should_stop=lambda: stop["asked"], dist=dist).run()
        return 0
    store = RunStore()
    run_id = args.run_id if args.run_id is not None else store.create_run(config, args.name, claim=True)
    print(f"run {run_id}: training in {store.home} (stop with Ctrl-C)", file=sys.stderr)

    def show(p):
        if not args.quiet:
            loss = f"loss {p.train_loss:.3f} acc {p.train_acc:.3f}" if p.train_loss is not None else ""
            test = f" test acc {p.test_acc:.3f}" if p.test_acc is not None else ""
            eta = f" ETA {p.eta_s:.0f}s" if p.eta_s else ""
            print(f"\r[{p.phase}] epoch {p.epoch}/{p.epochs} batch {p.batch}/{p.batches} {loss}{test}{eta}   ",
                  end="", file=sys.stderr, flush=True)

    run_training(store, run_id, on_progress=show, should_stop=lambda: stop["asked"], dist=dist)
    print(file=sys.stderr)
    run = store.get_run(run_id)  # the record, also when torchrun's processes trained it
    if run.final:
        print(closing_lines(run.final, run.device))
    if run.status != "finished" or run.message:
        print(f"run {run_id} {run.status}: {run.message}" + (f"\nhint: {run.hint}" if run.hint else ""),
              file=sys.stderr)
    return 0 if run.status == "finished" else 1


def _read_image_file(path: Path) -> bytes:
    """The file's bytes, at most MAX_IMAGE_FILE_BYTES of them (a device such as /dev/zero never ends)."""
    with open(path, "rb") as f:
        data = f.read(MAX_IMAGE_FILE_BYTES + 1)
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_IMAGE_FILE_BYTES >> 20} MB: not an image this program reads")
    return data


def _model_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=int, help="a run id (python -m nin_core runs)")
    src.add_argument("--checkpoint", type=Path)


def _predictor(args: argparse.Namespace):
    """The trained model that ``--run`` or ``--checkpoint`` names."""
    from nin_core.network.predict import Predictor
    from nin_core.runs.store import RunNotFound, RunStore

    if args.run is not None:
        try:
            run = RunStore().get_run(args.run)
        except RunNotFound as e:
            raise UsageError(str(e)) from None
        if not run.checkpoint:
            raise UsageError(f"run {args.run} has no checkpoint yet (status {run.status})")
        checkpoint = run.checkpoint
    else:
        checkpoint = args.checkpoint
    return Predictor.from_checkpoint(checkpoint)


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = _predictor(args)
    if not 1 <= args.top_k <= predictor.config.arch.num_classes:
        raise UsageError(f"--top-k must be between 1 and {predictor.config.arch.num_classes}, got {args.top_k}")
    out, failed = [], 0
    for path in args.images:
        try:
            [p] = predictor.predict_files([(str(path), _read_image_file(path))], top_k=args.top_k)
            error = p.error
        except OSError as e:
            error = f"cannot read {path}: {e.strerror}"
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
                print(f"{item['image']}: error: {item['error']}")
            else:
                guesses = ", ".join(f"{g['class']} {g['probability']:.1%}" for g in item["top_k"])
                print(f"{item['image']}: {guesses}")
                for note in item["notes"]:
                    print(f"{item['image']}: note: {note}")
    return EXIT_BAD_INPUT if failed else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from nin_core.lab.explorer import explore, write_pictures
    from nin_core.network.predict import ImageError, load_image

    predictor = _predictor(args)
    try:
        image = load_image(_read_image_file(args.image), str(args.image), size_hint=predictor.size)
    except OSError as e:
        raise UsageError(f"cannot read {args.image}: {e.strerror}") from None
    except ImageError as e:
        raise UsageError(str(e)) from None
    x, view, inverted = predictor.model_input(image)
    about = {"image": str(args.image), "checkpoint": str(args.checkpoint or f"run {args.run}"), "inverted": inverted}
    try:
        summary = write_pictures(explore(predictor.model, x), view, predictor.class_names, args.out, about)
    except OSError as e:
        raise UsageError(f"cannot write to {args.out}: {e.strerror or e}") from None
    print(f"{args.image}: {summary['predicted']}; {len(summary['pictures'])} pictures and summary.json in {args.out}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from nin_core.network.train import closing_lines
    from nin_core.runs.store import RunStore

    runs = RunStore().list_runs()
    if args.format == "json":
        # A diverged loss is NaN, which JSON has no word for: null.
        print(json.dumps([{"id": r.id, "name": r.name, "status": r.status, "config": r.config.to_dict(),
                           "final": {k: v if math.isfinite(v) else None for k, v in r.final.items()},
                           "device": r.device, "message": r.message, "checkpoint": r.checkpoint} for r in runs],
                         indent=2, allow_nan=False))
        return 0
    if not runs:
        print("no runs yet: python -m nin_core train --preset tiny")
    for r in runs:
        metrics = closing_lines(r.final, r.device).split("\n")[0]
        print(f"{r.id:>4}  {r.status:<11}  {r.name:<24}  {metrics}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from nin_core.lab.bench import run_bench, to_text
    from nin_core.network.config import FASHION_MNIST_TRAIN

    if not 1 <= args.images <= FASHION_MNIST_TRAIN:
        raise UsageError(f"--images must be between 1 and {FASHION_MNIST_TRAIN}, got {args.images}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    config = _load_config(args)
    report = run_bench(config, args.images, config.train.device, args.repeats, args.compile)
    print(json.dumps(report, indent=2) if args.format == "json" else to_text(report))
    return 0


def cmd_exercise(args: argparse.Namespace) -> int:
    from nin_core.lab import exercises
    from nin_core.network.data import find_dataset
    from nin_core.runs.jobs import launch_issues
    from nin_core.runs.store import RunStore

    try:
        ex = exercises.exercise(args.number)
    except ValueError as e:
        raise UsageError(str(e)) from None
    size = _overrides(args)
    store = RunStore()
    if not ex.trains:  # exercise 3 measures one step in a process of its own: no run, no data set
        if set(size) - {"batch_size"}:
            raise UsageError(f"exercise {ex.number} trains nothing: only --batch-size applies to it")
        batch = size.get("batch_size")
        if batch is not None and batch < 1:
            raise UsageError(f"--batch-size must be at least 1, got {batch}")
        frame = exercises.resource_frame(batch, exercises.measurements(store.home, batch, measure=True))
        print(frame.to_csv(index=False) if args.format == "csv" else exercises.table_text(frame))
        print(exercises.resource_conclusion(frame), file=sys.stderr if args.format == "csv" else sys.stdout)
        return 0
    if "batch_size" in size:
        raise UsageError(f"--batch-size is for exercise 3; exercise {ex.number} changes --train-size, --test-size "
                         "and --epochs")
    ex = ex.sized(**size)
    issues = {str(i): i for config in ex.configs().values() for i in launch_issues(config)}
    if issues:
        raise ConfigError(list(issues.values()))
    find_dataset(ex.base.train.data_dir)  # no data set: one line now, not a failed run per variant
    stop = {"asked": False}

    def on_signal(signum, frame):  # Ctrl-C: the run in progress stops cleanly, the others are not started
        stop["asked"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def show(run_id, p):
        if not args.quiet:
            loss = f" loss {p.train_loss:.3f}" if p.train_loss is not None else ""
            print(f"\r[run {run_id}, {p.phase}] epoch {p.epoch}/{p.epochs} batch {p.batch}/{p.batches}{loss}   ",
                  end="", file=sys.stderr, flush=True)

    print(f"{ex.name}: training in {store.home} (stop with Ctrl-C)", file=sys.stderr)
    exercises.train_exercise(store, ex, on_progress=show, should_stop=lambda: stop["asked"])
    print(file=sys.stderr)
    frame = exercises.result_frame(ex, store.list_runs())
    print(frame.to_csv(index=False) if args.format == "csv" else exercises.table_text(frame))
    print(exercises.conclusion(ex, frame), file=sys.stderr if args.format == "csv" else sys.stdout)
    return 1 if stop["asked"] else 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m nin_core", description="Network in Network on Fashion-MNIST")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("shapes", help="per-layer output shapes, parameters and multiply-adds")
    _config_args(p, NETWORK_SETTINGS)
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=cmd_shapes)

    p = sub.add_parser("train", help="train on Fashion-MNIST and record the run; or continue a run (--resume)")
    _config_args(p, list(SETTINGS))
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--run-id", type=int, help="train this queued run, with its stored configuration")
    p.add_argument("--resume", type=int, metavar="RUN_ID",
                   help="continue a stopped, interrupted or finished run from its last checkpoint, to --epochs in "
                        "all (default: its own epochs)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="classify image files with a trained model")
    _model_args(p)
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("inspect", help="every layer of a trained model on one image, as PNG files and summary.json")
    _model_args(p)
    p.add_argument("image", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the folder for the pictures and summary.json")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("runs", help="list the recorded runs")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("bench", help="time the seed's training pipeline against nin_core's, and inference")
    _config_args(p, ["resize", "precision", "device"])
    p.add_argument("--images", type=int, default=1024, help="training images each pipeline trains on (default 1024)")
    p.add_argument("--repeats", type=int, default=1, help="run each pipeline N times, taking turns; keep the fastest")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="also time torch.compile against eager (default: on CUDA only)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("exercise", help="run one of the chapter's exercises as an experiment and print its table")
    p.add_argument("number", type=int, help="1 to 5")
    _setting_args(p, ["train_size", "test_size", "epochs", "batch_size"])
    p.add_argument("--format", choices=("text", "csv"), default="text",
                   help="csv: the table alone on stdout (the conclusion on stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_exercise)

    p = sub.add_parser("code", help="a standalone PyTorch script that builds and trains the configuration")
    _config_args(p, list(SETTINGS))
    p.set_defaults(func=cmd_code)

    p = sub.add_parser("work", help="train queued runs one after another (the dashboard starts this)")
    p.set_defaults(func=cmd_work)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nin_core.network.checkpoint import CheckpointError
    from nin_core.network.data import DataNotFoundError

    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BrokenPipeError:  # the reader went away (| head): nothing left to say
        sys.stderr.close()
        return 0
    except (UsageError, ConfigError, CheckpointError, DataNotFoundError) as e:
        message = " ".join(str(e).split())
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT

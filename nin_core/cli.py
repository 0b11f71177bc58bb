"""``python -m nin_core``: shapes, train, predict, runs, bench (and ``work``, the dashboard's background trainer).

Bad input of any kind gets one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path

from .config import PRESETS, ConfigError, RunConfig, preset

EXIT_BAD_INPUT = 2
# Image files larger than this are refused unread: a 40-megapixel RGB BMP (120 MB) still fits.
MAX_IMAGE_FILE_BYTES = 128 << 20


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, not the usage block
        raise UsageError(message)


def _config_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=sorted(PRESETS), help="a named configuration (default: seed)")
    src.add_argument("--config", type=Path, help="a configuration JSON file, as the dashboard downloads it")
    p.add_argument("--resize", type=int, help="input size in pixels (images are resized to N×N)")


def _load_config(args: argparse.Namespace, overrides: dict) -> RunConfig:
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as e:
            raise UsageError(f"cannot read {args.config}: {e.strerror}") from None
        config = RunConfig.from_json(text)
    else:
        config = preset(args.preset or "seed")
    return config.with_overrides(**{k: v for k, v in overrides.items() if v is not None})


def cmd_shapes(args: argparse.Namespace) -> int:
    from .shapes import shape_table

    config = _load_config(args, {"resize": args.resize})
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
    from .distributed import from_environment, shutdown
    from .store import RunNotFound, RunStore

    if args.run_id is not None:  # a run queued already (the worker's torchrun launch): its own configuration
        try:
            run = RunStore().get_run(args.run_id)
        except RunNotFound as e:
            raise UsageError(str(e)) from None
        if run.status != "queued":
            raise UsageError(f"run {run.id} is {run.status}, not queued: only a queued run can be trained")
        config = run.config
    else:
        config = _load_config(args, {
            "resize": args.resize, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
            "train_size": args.train_size, "test_size": args.test_size, "device": args.device, "seed": args.seed,
            "optimizer": args.optimizer, "momentum": args.momentum, "weight_decay": args.weight_decay,
            "init": args.init, "precision": args.precision, "data_dir": args.data_dir, "processes": args.processes})
    dist = from_environment(config.train.device)  # under torchrun: this process's rank
    try:
        code = _train(args, config, dist)
        if dist:  # leave together: a process that exits while another still talks to it aborts it
            dist.barrier()
        return code
    finally:
        shutdown()


def _train(args: argparse.Namespace, config, dist) -> int:
    from .data import find_dataset
    from .jobs import launch_issues, run_training
    from .store import RunStore
    from .train import Trainer, closing_lines

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


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import Predictor
    from .store import RunNotFound, RunStore

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
    predictor = Predictor.from_checkpoint(checkpoint)
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
                    "top_k": [{"class": c, "probability": round(prob, 6)} for c, prob in p.top_k]})
    if args.format == "json":
        print(json.dumps(out, indent=2))
    else:
        for item in out:
            if item.get("error"):
                print(f"{item['image']}: error: {item['error']}")
            else:
                guesses = ", ".join(f"{g['class']} {g['probability']:.1%}" for g in item["top_k"])
                print(f"{item['image']}: {guesses}")
    return EXIT_BAD_INPUT if failed else 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .store import RunStore
    from .train import closing_lines

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
    from .bench import run_bench, to_text
    from .config import FASHION_MNIST_TRAIN

    if not 1 <= args.images <= FASHION_MNIST_TRAIN:
        raise UsageError(f"--images must be between 1 and {FASHION_MNIST_TRAIN}, got {args.images}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    config = _load_config(args, {"resize": args.resize, "precision": args.precision})
    report = run_bench(config, args.images, args.device, args.repeats, args.compile)
    print(json.dumps(report, indent=2) if args.format == "json" else to_text(report))
    return 0


def cmd_work(args: argparse.Namespace) -> int:
    from .jobs import work
    from .store import RunStore

    work(RunStore())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m nin_core", description="Network in Network on Fashion-MNIST")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("shapes", help="per-layer output shapes, parameters and multiply-adds")
    _config_args(p)
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=cmd_shapes)

    p = sub.add_parser("train", help="train on Fashion-MNIST and record the run")
    _config_args(p)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--train-size", type=int, help="train on a seeded random subset of N images")
    p.add_argument("--test-size", type=int, help="evaluate on a seeded random subset of N images")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int)
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--init", choices=("xavier", "default"))
    p.add_argument("--precision", choices=("auto", "float32", "bf16"))
    p.add_argument("--data-dir", help="a folder with the four Fashion-MNIST IDX files")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--processes", type=int, help="DistributedDataParallel over N processes, one per GPU "
                                                 "(launched through torchrun)")
    p.add_argument("--run-id", type=int, help="train this queued run, with its stored configuration")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="classify image files with a trained model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=int, help="a run id (python -m nin_core runs)")
    src.add_argument("--checkpoint", type=Path)
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("runs", help="list the recorded runs")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("bench", help="time the seed's training pipeline against nin_core's, and inference")
    _config_args(p)
    p.add_argument("--images", type=int, default=1024, help="training images each pipeline trains on (default 1024)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--repeats", type=int, default=1, help="run each pipeline N times, taking turns; keep the fastest")
    p.add_argument("--precision", choices=("auto", "float32", "bf16"), help="the Trainer's (the seed's is float32)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="also time torch.compile against eager (default: on CUDA only)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("work", help="train queued runs one after another (the dashboard starts this)")
    p.set_defaults(func=cmd_work)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data import DataNotFoundError

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

"""The chapter's exercises as experiments: each one a question, a base configuration that trains in minutes on a
CPU (28 px, a subset) and the variants it compares, queued through the run store like any run.

Each experiment's runs carry its name (the store's ``experiment``). A variant is done when a run of the experiment
with exactly its configuration ended by itself (finished, stalled or diverged: training it again gives the same)
or is queued or running; only the others are queued again. The result table, its curves and its conclusion are
built from the runs alone, so a table of other numbers gives another conclusion. Exercise 3 trains nothing: it
sets the memory estimate beside a measurement of one training step and one prediction in a fresh process.

The book's own result stands beside the runs as a reference: d2l-zh's run of the seed prints ``loss 0.563, train
acc 0.786, test acc 0.790`` and ``3087.6 examples/sec on cuda:0``; d2l-en's 0.17 build printed test acc 0.867.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from nin_core.network.config import CPU, SEED, ArchConfig, BlockConfig, RunConfig, TrainConfig
from nin_core.network.memory import memory_estimate
from nin_core.network.settings import format_value
from nin_core.network.shapes import shape_table
from nin_core.network.train import CHANCE_LOSS
from nin_core.runs.store import Run, RunStore

SIZE_SETTINGS = ("train_size", "test_size", "epochs")  # what the command line may shrink an experiment by
DONE = ("finished", "stalled", "diverged")  # ended by training itself: training it again gives the same
REFERENCE = "reference"  # the status of the book's rows
CHANCE_MARGIN = 0.02  # a final loss this close to ln 10 has not left the start
MB = 1e6


@dataclass(frozen=True)
class BookResult:
    label: str
    train_loss: float | None = None
    train_acc: float | None = None
    test_acc: float | None = None
    examples_per_sec: float | None = None


BOOK = (
    BookResult("the book (d2l-zh): the seed, 224 px, 10 epochs, cuda:0", 0.563, 0.786, 0.790, 3087.6),
    BookResult("the book (d2l-en 0.17): the seed", test_acc=0.867),
)


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    question: str  # the book's exercise
    plan: str  # what the experiment does about it
    base: RunConfig | None = None
    variants: tuple[Variant, ...] = ()
    reference: str | None = None  # the chapter's own variant, which the others are compared with

    @property
    def name(self) -> str:
        """The experiment's name, which its runs carry."""
        return f"exercise {self.number}: {self.title.lower()}"

    @property
    def trains(self) -> bool:
        return bool(self.variants)

    def configs(self) -> dict[str, RunConfig]:
        return {v.name: self.base.with_overrides(**v.overrides) for v in self.variants}

    @property
    def size(self) -> dict[str, Any]:
        return {k: self.base.get(k) for k in SIZE_SETTINGS}

    def sized(self, **size: Any) -> Exercise:
        """The same experiment on another number of images or epochs (a separate set of runs)."""
        return replace(self, base=self.base.with_overrides(**size))

    @property
    def varied(self) -> list[str]:
        """The settings its variants change, in the order they first appear."""
        return list(dict.fromkeys(k for v in self.variants for k in v.overrides))


# --- the five experiments -------------------------------------------------------------------------------------

SIZE = {"train_size": 8000, "test_size": 1000, "epochs": 2}
# The chapter's four NiN blocks sized for 28 px, built the chapter's way (two 1×1 convolutions, dropout, no batch
# norm): minutes on a CPU for a whole experiment on a subset.
NETWORK = ArchConfig(blocks=(BlockConfig(48, 5, 1, 2), BlockConfig(96, 3, 1, 1), BlockConfig(128, 3, 1, 1),
                             BlockConfig(10, 3, 1, 1)), resize=28)
# The seed's training (plain SGD, lr 0.1, xavier init), with the batch that gives a subset twice the steps.
SGD_BASE = RunConfig(arch=NETWORK, train=TrainConfig(batch_size=64, **SIZE))
# Plain SGD sits at chance for hundreds of steps at this size; AdamW leaves it after about 70 (docs/benchmarks.md).
ADAMW_BASE = SGD_BASE.with_overrides(optimizer="adamw", lr=0.002)

EXERCISES: dict[int, Exercise] = {e.number: e for e in (
    Exercise(
        1, "Learning rate and batch norm",
        "Tune the hyperparameters to improve the classification accuracy.",
        "The seed's plain SGD over a small grid of learning rates, without and with batch norm: where NiN stalls "
        "at loss 2.303 (every class map zero, chance accuracy), and what batch norm changes.",
        SGD_BASE,
        tuple(Variant(f"lr {lr:g}" + (" + batch norm" if bn else ""), {"lr": lr, "batch_norm": bn})
              for bn in (False, True) for lr in (0.01, 0.1, 1.0)),
        "lr 0.1"),
    Exercise(
        2, "1×1 convolutions",
        "Why are there two 1×1 convolutional layers per NiN block? Remove one of them, and then observe and "
        "analyze the experimental phenomena.",
        "The same network with no, one, two (the chapter) and three 1×1 convolutions per block, and with two 3×3 "
        "convolutions in their place.",
        ADAMW_BASE,
        (Variant("no 1×1 conv", {"pointwise_convs": 0}), Variant("one 1×1 conv", {"pointwise_convs": 1}),
         Variant("two 1×1 convs (the chapter)", {"pointwise_convs": 2}),
         Variant("three 1×1 convs", {"pointwise_convs": 3}),
         Variant("two 3×3 convs", {"pointwise_convs": 2, "pointwise_kernel": 3})),
        "two 1×1 convs (the chapter)"),
    Exercise(
        3, "Resource usage",
        "Calculate the resource usage for NiN: the number of parameters, the amount of computation, the memory "
        "needed during training and during prediction.",
        "The shape inspector's totals for the seed at 224 px and the cpu preset at 28 px, and the memory of one "
        "training step and one prediction at the training batch size: the estimate beside a measurement on this "
        "machine (float32, each in a fresh process)."),
    Exercise(
        4, "The one-step reduction",
        "What are possible problems with reducing the 384×5×5 representation to a 10×5×5 representation in one "
        "step?",
        "The last block maps its input to one map per class in one step (here 128 → 10); against it: the same "
        "without the ReLU that can zero every map, a fully connected head on the 10 maps, and a gentler "
        "reduction to 96 maps before a fully connected layer. With the class maps of one test image.",
        ADAMW_BASE,
        (Variant("one step to 10 maps (the chapter)"), Variant("no ReLU after the last block", {"final_relu": False}),
         Variant("fully connected head on the 10 maps", {"head": "fc"}),
         Variant("gentler: 96 maps, then fully connected",
                 {"blocks": (*NETWORK.blocks[:-1], BlockConfig(96, 3, 1, 1)), "head": "fc"})),
        "one step to 10 maps (the chapter)"),
    Exercise(
        5, "Batch norm at the seed's rate",
        "From the next chapters: batch normalization, on and off, at the seed's learning rate 0.1.",
        "The seed's training (plain SGD, lr 0.1) with and without a batch norm after every convolution, on more "
        "images and epochs than the other experiments.",
        SGD_BASE.with_overrides(train_size=12000, epochs=3),
        (Variant("no batch norm (the chapter)"), Variant("batch norm", {"batch_norm": True})),
        "no batch norm (the chapter)"),
)}


def exercise(number: int) -> Exercise:
    try:
        return EXERCISES[number]
    except KeyError:
        raise ValueError(f"there is no exercise {number}: choose 1 to {len(EXERCISES)}") from None


# --- runs -----------------------------------------------------------------------------------------------------

def experiment_runs(ex: Exercise, runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.experiment == ex.name]


def variant_runs(ex: Exercise, runs: list[Run]) -> dict[str, Run | None]:
    """Each variant's run (``runs`` newest first, as the store lists them): the newest done, else one queued or
    running, else the newest that ended otherwise (stopped, failed), else None."""
    mine = experiment_runs(ex, runs)
    found: dict[str, Run | None] = {}
    for name, config in ex.configs().items():
        same = [r for r in mine if r.config == config]
        found[name] = (next((r for r in same if r.status in DONE), None) or next((r for r in same if r.active), None)
                       or (same[0] if same else None))
    return found


def missing(ex: Exercise, runs: list[Run]) -> list[str]:
    """The variants with no run done, queued or running."""
    return [name for name, run in variant_runs(ex, runs).items()
            if run is None or not (run.status in DONE or run.active)]


def queue_exercise(store: RunStore, ex: Exercise, *, claim: bool = False) -> list[int]:
    """Queue the variants that are not done (nor queued); their ids. ``claim``: this process trains them."""
    configs = ex.configs()
    return [store.create_run(configs[name], f"ex {ex.number} · {name}", experiment=ex.name, claim=claim)
            for name in missing(ex, store.list_runs())]


def sizes(ex: Exercise, runs: list[Run]) -> list[dict[str, Any]]:
    """The sizes the experiment has runs at: its own first, then the others (newest first)."""
    found = [ex.size]
    for r in experiment_runs(ex, runs):
        size = {k: r.config.get(k) for k in SIZE_SETTINGS}
        if size not in found:
            found.append(size)
    return found


def size_text(size: Mapping[str, Any]) -> str:
    def images(n: int | None, total: str) -> str:
        return f"{n:,}" if n else f"all {total}"

    return (f"{images(size['train_size'], '60,000')} training images, {images(size['test_size'], '10,000')} test "
            f"images, {size['epochs']} epoch{'s' if size['epochs'] != 1 else ''}")


def at_chance(final: Mapping[str, float]) -> bool:
    """Whether a run ended where it began: its loss still ln 10 = 2.303, its accuracy near chance (on a small
    subset, predicting the most frequent class scores a little above 0.100)."""
    loss, acc = final.get("train_loss"), final.get("test_acc", final.get("train_acc"))
    return loss is not None and acc is not None and abs(loss - CHANCE_LOSS) < CHANCE_MARGIN and acc < 0.2


def _status(run: Run | None) -> str:
    if run is None:
        return "not run"
    if run.status == "stalled":
        return "stalled at 2.303"
    if run.status == "finished" and at_chance(run.final):
        return "at chance (2.303)"
    return run.status


# --- the table ------------------------------------------------------------------------------------------------

COLUMNS = ("status", "parameters", "multiply-adds", "training memory (MB)", "time (s)", "examples/s", "train loss",
           "train acc", "test acc", "run")


@lru_cache(maxsize=64)
def _cost(arch: ArchConfig) -> tuple[int, int]:
    table = shape_table(arch)
    return table.total_params, table.total_mult_adds


def _setting_value(config: RunConfig, name: str) -> Any:
    value = config.get(name)
    return format_value(value) if isinstance(value, tuple) else value


def result_frame(ex: Exercise, runs: list[Run]) -> pd.DataFrame:
    """One row per variant (the settings it changes, its status, parameters, multiply-adds per image, training
    memory at its batch size, time, final metrics and run id), then the book's result for reference."""
    rows = []
    found = variant_runs(ex, runs)
    for name, config in ex.configs().items():
        run = found[name]
        final = run.final if run is not None else {}
        params, mult_adds = _cost(config.arch)
        rows.append({"variant": name, **{k: _setting_value(config, k) for k in ex.varied}, "status": _status(run),
                     "parameters": params, "multiply-adds": mult_adds,
                     "training memory (MB)": memory_estimate(config).train_bytes / MB,
                     "time (s)": run.duration_s if run is not None and not run.active else None,
                     "examples/s": final.get("examples_per_sec"), "train loss": final.get("train_loss"),
                     "train acc": final.get("train_acc"), "test acc": final.get("test_acc"),
                     "run": run.id if run is not None else None})
    params, mult_adds = _cost(SEED.arch)
    seed_memory = memory_estimate(SEED, precision="float32").train_bytes / MB
    for book in BOOK:
        rows.append({"variant": book.label, **{k: _setting_value(SEED, k) for k in ex.varied}, "status": REFERENCE,
                     "parameters": params, "multiply-adds": mult_adds, "training memory (MB)": seed_memory,
                     "examples/s": book.examples_per_sec, "train loss": book.train_loss, "train acc": book.train_acc,
                     "test acc": book.test_acc})
    frame = pd.DataFrame(rows, columns=["variant", *ex.varied, *COLUMNS])
    for col in COLUMNS[3:-1]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame["run"] = frame["run"].astype("Int64")
    return frame


def curves(ex: Exercise, store: RunStore, runs: list[Run]) -> dict[str, list]:
    """Each variant's curve points (for ``charts.curves_figure``), for the variants that have a run."""
    return {name: store.metrics(run.id) for name, run in variant_runs(ex, runs).items() if run is not None}


NUMBER_FORMATS = {"parameters": "{:,}", "multiply-adds": "{:,}", "time (s)": "{:.0f}", "examples/s": "{:,.1f}",
                  "train loss": "{:.3f}", "train acc": "{:.3f}", "test acc": "{:.3f}", "run": "{}"}


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as a person reads it: every number formatted (megabytes whole), a missing one as a dash."""
    shown = frame.copy()
    for col in shown:
        fmt = NUMBER_FORMATS.get(col, "{:,.0f}" if col.endswith("(MB)") else None)
        if fmt:
            shown[col] = ["—" if pd.isna(v) else fmt.format(v) for v in shown[col]]
    return shown


def table_text(frame: pd.DataFrame) -> str:
    """The table as the command line prints it."""
    return display_frame(frame).to_string(index=False)


# --- conclusions ----------------------------------------------------------------------------------------------

def _signed(value: float, fmt: str) -> str:
    return format(value, "+" + fmt).replace("-", "−")


def _percent(new: float, old: float) -> str:
    return _signed(100 * (new / old - 1), ".0f") + " %"


def _outcome(row: pd.Series) -> str | None:
    """What went wrong with a variant, in words, or None if it learned."""
    if row["status"].startswith("stalled"):
        return "stalled at loss 2.303, every class map zero"
    if row["status"] == "diverged":
        return "diverged"
    if row["status"].startswith("at chance"):
        return "stayed at chance, loss 2.303"
    return None


def _ended(frame: pd.DataFrame) -> pd.DataFrame:
    """The variants with a result: a test accuracy, or an end that has none (a stall in the first epoch)."""
    rows = frame[frame["status"] != REFERENCE]
    return rows[rows["test acc"].notna() | rows["status"].str.startswith("stalled") | (rows["status"] == "diverged")]


def _against(frame: pd.DataFrame, reference: str) -> str:
    """Each variant against the chapter's: test accuracy and parameters changed by how much, or what went wrong."""
    ended = _ended(frame)
    ref = ended[ended["variant"] == reference]
    if ref.empty:
        return ""
    ref = ref.iloc[0]
    parts = []
    for _, row in ended[ended["variant"] != reference].iterrows():
        params = ""
        if abs(row["parameters"] / ref["parameters"] - 1) >= 0.005:
            params = f" and parameters by {_percent(row['parameters'], ref['parameters'])}"
        if pd.notna(row["test acc"]) and pd.notna(ref["test acc"]):
            text = f"{row['variant']} changed test accuracy by {_signed(row['test acc'] - ref['test acc'], '.3f')}"
            text += params + (f": it {_outcome(row)}" if _outcome(row) else "")
        else:
            text = f"{row['variant']} {_outcome(row) or 'has no test accuracy'}"
        parts.append(text)
    if not parts:
        return ""
    acc = f"test acc {ref['test acc']:.3f}" if pd.notna(ref["test acc"]) else _outcome(ref)
    head = f"Against {reference} ({acc}, {ref['parameters']:,} parameters): "
    return head + "; ".join(parts) + "."


def _best(frame: pd.DataFrame) -> str:
    ended = _ended(frame).dropna(subset=["test acc"])
    if ended.empty:
        return ""
    best = ended.loc[ended["test acc"].idxmax()]
    return f"The best test accuracy: {best['variant']}, {best['test acc']:.3f}."


def _listed(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _grid(frame: pd.DataFrame) -> str:
    """Exercise 1: for each batch norm setting, which rates learned and which did not."""
    ended = _ended(frame)
    sentences = []
    for bn, label in ((False, "Without batch norm"), (True, "With batch norm")):
        rows = ended[ended["batch_norm"] == bn].sort_values("lr")
        if rows.empty:
            continue
        groups: dict[str | None, list[pd.Series]] = {}
        for _, row in rows.iterrows():
            groups.setdefault(_outcome(row), []).append(row)
        def rates(group: list[pd.Series]) -> str:
            return "lr " + _listed([format(r["lr"], "g") for r in group])

        said = [f"{rates(group)} {outcome}" for outcome, group in groups.items() if outcome]
        if None in groups:
            accs = _listed([format(r["test acc"], ".3f") for r in groups[None]])
            said.append(f"{rates(groups[None])} trained (test acc {accs})")
        sentences.append(f"{label}: {'; '.join(said)}.")
    pairs = ended.dropna(subset=["test acc"]).pivot_table(index="lr", columns="batch_norm", values="test acc")
    if {False, True} <= set(pairs.columns):
        gain = (pairs[True] - pairs[False]).dropna()
        if len(gain):
            sentences.append(f"Batch norm changed test accuracy by {_signed(gain.mean(), '.3f')} on average over "
                             f"{len(gain)} rate{'s' if len(gain) != 1 else ''} (at most {_signed(gain.max(), '.3f')}"
                             f", at lr {gain.idxmax():g}).")
    return " ".join(sentences)


def _book(ex: Exercise, frame: pd.DataFrame) -> str:
    """The chapter's settings here beside the book's run of the seed."""
    ref = _ended(frame)
    ref = ref[ref["variant"] == ex.reference]
    book = frame[(frame["status"] == REFERENCE) & frame["train loss"].notna()]
    if ref.empty or book.empty or pd.isna(ref.iloc[0]["test acc"]):
        return ""
    mine, theirs = ref.iloc[0]["test acc"], book.iloc[0]["test acc"]
    return (f"The book's run of the seed (224 px, all 60,000 images, 10 epochs) reached test acc {theirs:.3f}; the "
            f"chapter's settings here ({size_text(ex.size)} at {ex.base.arch.resize} px) reached {mine:.3f} "
            f"({_signed(mine - theirs, '.3f')}).")


def conclusion(ex: Exercise, frame: pd.DataFrame) -> str:
    """What the runs in ``frame`` (``result_frame``) say, written from their numbers; empty until two variants
    have a result."""
    ended = _ended(frame)
    if len(ended) < 2:
        return ""
    # Exercise 1 compares a grid, read along its two axes; the others compare each variant with the chapter's.
    sentences = [_grid(frame) if ex.number == 1 else _against(frame, ex.reference), _best(frame)]
    if ex.number in (1, 5):  # the seed's own training: the book's run is its reference
        sentences.append(_book(ex, frame))
    text = " ".join(s for s in sentences if s)
    variants = len(frame[frame["status"] != REFERENCE])
    return text if len(ended) == variants else f"So far ({len(ended)} of {variants} variants): {text}"


# --- exercise 3: resources ------------------------------------------------------------------------------------

RESOURCE_CONFIGS = {"the seed at 224 px": SEED, "the cpu preset at 28 px": CPU}
MEASURED_FILE = "exercise-3.json"


def measure_memory(config: RunConfig, batch: int, training: bool) -> int:
    """Bytes one training step (or one prediction) of ``batch`` images takes at its peak, in float32, measured in
    a fresh process: on a GPU its peak allocation, on a CPU the growth of its peak resident memory."""
    code = "import sys; from nin_core.lab.exercises import memory_child; memory_child(*sys.argv[1:])"
    out = subprocess.run([sys.executable, "-c", code, config.to_json(None), str(batch), str(int(training))],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return int(out.stdout.split()[-1])


def memory_child(config_json: str, batch: str, training: str) -> None:
    import torch

    from nin_core.network.devices import resolve_device, synchronize
    from nin_core.network.model import build_model
    from nin_core.network.train import make_loss, make_optimizer, train_step

    config = RunConfig.from_json(config_json)
    device, a = resolve_device(config.train.device), config.arch
    cuda = device.type == "cuda"

    def step(images: int) -> None:
        model = build_model(a, config.train.init).to(device)
        x = torch.rand(images, a.in_channels, a.resize, a.resize, device=device)
        if training == "1":
            y = torch.randint(0, a.num_classes, (images,), device=device)
            train_step(model, make_optimizer(config, model.parameters()), make_loss(config), x, y, None)
        else:
            with torch.inference_mode():
                model.eval()(x)
        synchronize(device)

    step(1)  # the libraries' own one-time set-up (kernels, thread pools) is not the step's memory
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        before = _resident_peak(reset=True)
    step(int(batch))
    peak = torch.cuda.max_memory_allocated(device) if cuda else _resident_peak()
    print(max(0, peak - before))


def _resident_peak(reset: bool = False) -> int:
    """The process's peak resident memory in bytes. ``reset``: start the peak again from now (Linux: writing 5
    to clear_refs) and return the memory resident now; elsewhere the peak since the process started."""
    status = Path("/proc/self/status")
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS" if reset else "VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib * (1 if sys.platform == "darwin" else 1024)


def _measure_key(config: RunConfig, batch: int) -> str:
    import torch

    from nin_core.network.devices import device_label, resolve_device

    return f"{device_label(resolve_device(config.train.device))} | torch {torch.__version__} | {batch} | " \
           f"{config.to_json(None)}"


def measurements(home: str | Path, batch: int | None = None, *, measure: bool = False) -> dict[str, dict]:
    """Each resource configuration's measured training and prediction bytes (``batch``: its own batch size if
    None), from ``home``'s record of earlier measurements, or measured now when ``measure`` (and recorded)."""
    path = Path(home) / MEASURED_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    found = {}
    for label, config in RESOURCE_CONFIGS.items():
        key = _measure_key(config, batch or config.train.batch_size)
        if key not in record and measure:
            b = batch or config.train.batch_size
            record[key] = {"train": measure_memory(config, b, True), "predict": measure_memory(config, b, False),
                           "at": time.time()}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2))
        if key in record:
            found[label] = record[key]
    return found


def resource_frame(batch: int | None = None, measured: Mapping[str, dict] | None = None) -> pd.DataFrame:
    """The shape inspector's totals and the memory of training and prediction at the batch size (each preset's
    own if None), estimated in float32, beside ``measured`` where given."""
    rows = []
    measured = measured or {}
    for label, config in RESOURCE_CONFIGS.items():
        b = batch or config.train.batch_size
        params, mult_adds = _cost(config.arch)
        estimate = memory_estimate(config, b, "float32")
        found = measured.get(label, {})
        rows.append({"configuration": label, "batch": b, "parameters": params, "multiply-adds": mult_adds,
                     "training estimate (MB)": estimate.train_bytes / MB,
                     "training measured (MB)": found.get("train", math.nan) / MB,
                     "prediction estimate (MB)": estimate.inference_bytes(b) / MB,
                     "prediction measured (MB)": found.get("predict", math.nan) / MB})
    return pd.DataFrame(rows)


def resource_conclusion(frame: pd.DataFrame) -> str:
    """What the resource table says, from its numbers: the seed against the cpu preset, estimate against
    measurement, training against prediction."""
    if len(frame) < 2:
        return ""
    big, small = frame.iloc[0], frame.iloc[1]
    text = (f"{big['configuration'].capitalize()} has {big['parameters']:,} parameters and "
            f"{big['multiply-adds'] / 1e6:,.0f} M multiply-adds per image: "
            f"{big['parameters'] / small['parameters']:.1f}× the parameters and "
            f"{big['multiply-adds'] / small['multiply-adds']:.0f}× the computation of {small['configuration']}.")
    for _, row in frame.iterrows():
        train, predict = row["training estimate (MB)"], row["prediction estimate (MB)"]
        text += (f" Training {row['configuration']} on a batch of {row['batch']} needs about {train:,.0f} MB by "
                 f"the estimate")
        if pd.notna(row["training measured (MB)"]):
            measured = row["training measured (MB)"]
            off = 100 * (measured / train - 1)
            text += f", {measured:,.0f} MB as measured ({abs(off):.0f} % {'over' if off > 0 else 'under'} it)"
        text += (f"; predicting the same batch {predict:,.0f} MB"
                 + (f" (measured {row['prediction measured (MB)']:,.0f} MB)"
                    if pd.notna(row["prediction measured (MB)"]) else "")
                 + f": training holds {train / predict:.0f}× as much, the activations kept for the backward pass.")
    return text


# --- exercise 4: class maps -----------------------------------------------------------------------------------

def class_map_pictures(found: Mapping[str, Run | None], seed: int = 0) -> list[tuple[str, Any]]:
    """One test image through each variant that pools class maps and has a checkpoint: (variant, the picture of
    its ten maps, each labelled with its mean, the logit)."""
    from PIL import Image

    from nin_core.lab.explorer import class_maps_picture, explore
    from nin_core.network.data import CLASS_NAMES, sample_test_images
    from nin_core.network.predict import Predictor

    usable = {name: run for name, run in found.items() if run is not None and run.config.arch.head == "gap"
              and run.checkpoint and Path(run.checkpoint).is_file()}
    if not usable:
        return []
    [(image, _)] = sample_test_images(1, seed)
    pictures = []
    for name, run in usable.items():
        predictor = Predictor.from_checkpoint(run.checkpoint)
        x, _, _ = predictor.model_input(Image.fromarray(image.numpy()))
        pictures.append((name, class_maps_picture(explore(predictor.model, x), CLASS_NAMES)))
    return pictures


# --- from the shell -------------------------------------------------------------------------------------------

def train_exercise(store: RunStore, ex: Exercise, *, on_progress: Callable[[int, Any], None] | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> None:
    """Queue the experiment's missing variants for this process and train them one after another, then wait for
    those queued elsewhere (from the page) to end."""
    from nin_core.runs.jobs import ensure_worker, run_training

    ids = queue_exercise(store, ex, claim=True)
    for run_id in ids:
        if should_stop():
            store.finish(run_id, "stopped", message="stopped before it started")
            continue
        run_training(store, run_id, should_stop=should_stop,
                     on_progress=(lambda p, run_id=run_id: on_progress(run_id, p)) if on_progress else None)
    ensure_worker(store)  # variants queued from the page train in the background worker
    while not should_stop() and any(r is not None and r.active for r in variant_runs(ex, store.list_runs()).values()):
        time.sleep(2)

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
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from nin_core.i18n import N_, _, format_count, ngettext
from nin_core.lab.fresh_process import in_fresh_process
from nin_core.network.config import CPU, SEED, ArchConfig, BlockConfig, RunConfig, TrainConfig
from nin_core.network.memory import memory_estimate
from nin_core.network.metrics import MetricPoint, at_chance
from nin_core.network.settings import format_value
from nin_core.network.shapes import shape_table
from nin_core.network.status import ENDED_BY_TRAINING, PROBLEMS, RunStatus
from nin_core.runs import noise
from nin_core.runs.groups import curves_of
from nin_core.runs.store import Run, RunStore

SIZE_SETTINGS = ("train_size", "test_size", "epochs", "repeats")  # what the command line may shrink an experiment by
# A size that trains in a few minutes: a first look, whose conclusion may differ from the one at the full size.
QUICK_LOOK = {"train_size": 4000, "test_size": 1000, "epochs": 1, "repeats": 1}
MB = 1e6


@dataclass(frozen=True)
class BookResult:
    label: str  # in English (the table's data); ``_(label)`` where shown
    train_loss: float | None = None
    train_acc: float | None = None
    test_acc: float | None = None
    examples_per_sec: float | None = None


BOOK = (
    BookResult(N_("the book (d2l-zh): the seed, 224 px, 10 epochs, cuda:0"), 0.563, 0.786, 0.790, 3087.6),
    BookResult(N_("the book (d2l-en 0.17): the seed"), test_acc=0.867),
)


# --- a variant's outcome --------------------------------------------------------------------------------------

class Verdict(StrEnum):
    """What the table says of a row instead of its run's status, in the table's words. The exercises classify
    Fashion-MNIST's ten classes: 2.303 is their chance loss, ln 10."""

    NOT_RUN = "not run"
    STALLED = "stalled at 2.303"  # the trainer stopped it at chance level
    AT_CHANCE = "at chance (2.303)"  # it finished, its loss and accuracy still where they began
    REFERENCE = "reference"  # the book's result

    @property
    def label(self) -> str:
        """The verdict as a person reads it, in the current language (the value stays the table's English)."""
        return _(_VERDICT_LABELS[self])


_VERDICT_LABELS = {Verdict.NOT_RUN: N_("not run"), Verdict.STALLED: N_("stalled at 2.303"),
                   Verdict.AT_CHANCE: N_("at chance (2.303)"), Verdict.REFERENCE: N_("reference")}

Outcome = RunStatus | Verdict  # a row's status column: its run's status, or what the table says instead
BAD_ENDS = PROBLEMS | {Verdict.STALLED, Verdict.AT_CHANCE}  # the rows that learned nothing or did not end well
WENT_WRONG = {Verdict.STALLED: N_("stalled at loss 2.303, every class map zero"), RunStatus.DIVERGED: N_("diverged"),
              Verdict.AT_CHANCE: N_("stayed at chance, loss 2.303")}  # in a conclusion's words (``_()`` them)
NO_ACCURACY = frozenset({Verdict.STALLED, RunStatus.DIVERGED})  # a result, though perhaps in the first epoch


def outcome(run: Run | None) -> Outcome:
    """A variant's outcome, from its run: its status, told apart where the table says more (no run, a stall, a
    finish at chance level for its number of classes)."""
    if run is None:
        return Verdict.NOT_RUN
    status = RunStatus(run.status)
    if status == RunStatus.STALLED:
        return Verdict.STALLED
    loss, acc = run.final.get("train_loss"), run.final.get("test_acc", run.final.get("train_acc"))
    if status == RunStatus.FINISHED and at_chance(loss, acc, run.config.arch.num_classes):
        return Verdict.AT_CHANCE
    return status


# --- the exercises' types -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    name: str  # in English, as its runs' names and groups store it; ``_(name)`` where shown
    overrides: Mapping[str, Any] = field(default_factory=dict)


# One sentence of an experiment's conclusion, written from its table ("" when the table says nothing of it).
Sentence = Callable[["Experiment", pd.DataFrame], str]


@dataclass(frozen=True)
class Experiment:
    """An exercise answered by training: variants of one configuration, compared in a table that its own
    sentences conclude from."""

    number: int
    title: str  # title, question and plan in English (the experiment's stored name is its title): ``_()`` them
    question: str  # the book's exercise (d2l-zh's own words in Chinese)
    plan: str  # what the experiment does about it
    base: RunConfig
    variants: tuple[Variant, ...]
    reference: str  # the chapter's own variant, which the others are compared with
    sentences: tuple[Sentence, ...]  # its conclusion, in order
    book: tuple[BookResult, ...] = BOOK  # the book's results, the table's last rows
    class_maps: bool = False  # whether its variants' class maps of one test image are worth seeing
    trains: ClassVar[bool] = True

    @property
    def name(self) -> str:
        """The experiment's name, which its runs carry."""
        return f"exercise {self.number}: {self.title.lower()}"

    def configs(self) -> dict[str, RunConfig]:
        return {v.name: self.base.with_overrides(**v.overrides) for v in self.variants}

    @property
    def size(self) -> dict[str, Any]:
        return {k: self.base.get(k) for k in SIZE_SETTINGS}

    def sized(self, **size: Any) -> Experiment:
        """The same experiment on another number of images, epochs or seeds (a separate set of runs)."""
        return replace(self, base=self.base.with_overrides(**size))

    @property
    def quick_look(self) -> Experiment:
        return self.sized(**QUICK_LOOK)

    @property
    def varied(self) -> list[str]:
        """The settings its variants change, in the order they first appear."""
        return list(dict.fromkeys(k for v in self.variants for k in v.overrides))


@dataclass(frozen=True)
class Measurement:
    """An exercise answered without training: the resource table, estimated and measured."""

    number: int
    title: str
    question: str
    plan: str
    book: tuple[BookResult, ...] = BOOK[:1]  # the book's run with a speed, which puts the computation in seconds
    trains: ClassVar[bool] = False


Exercise = Experiment | Measurement


# --- runs -----------------------------------------------------------------------------------------------------

def experiment_runs(ex: Experiment, runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.experiment == ex.name]


@dataclass(frozen=True)
class VariantRuns:
    """A variant's runs, one per seed of its repeats: the run that stands for the seed, or None."""

    name: str
    config: RunConfig  # the variant's configuration, its repeats included
    seeds: tuple[RunConfig, ...]  # each seed's run configuration, in seed order
    runs: tuple[Run | None, ...]

    @property
    def present(self) -> list[Run]:
        return [r for r in self.runs if r is not None]

    @property
    def done(self) -> list[Run]:
        return [r for r in self.present if r.status in ENDED_BY_TRAINING]

    @property
    def active(self) -> list[Run]:
        return [r for r in self.present if r.active]

    @property
    def missing(self) -> list[RunConfig]:
        """The seeds with no run done, queued or running."""
        return [config for config, run in zip(self.seeds, self.runs, strict=True)
                if run is None or not (run.status in ENDED_BY_TRAINING or run.active)]


def _standing(same: list[Run]) -> Run | None:
    """Of the runs of one seed's configuration (newest first): the newest done, else one queued or running, else
    the newest that ended otherwise (stopped, failed), else None."""
    return (next((r for r in same if r.status in ENDED_BY_TRAINING), None)
            or next((r for r in same if r.active), None) or (same[0] if same else None))


def variant_runs(ex: Experiment, runs: list[Run]) -> dict[str, VariantRuns]:
    """Each variant's runs, seed by seed (``runs`` newest first, as the store lists them)."""
    mine = experiment_runs(ex, runs)
    found = {}
    for name, config in ex.configs().items():
        seeds = tuple(config.seed_configs())
        found[name] = VariantRuns(name, config, seeds,
                                  tuple(_standing([r for r in mine if r.config == seed]) for seed in seeds))
    return found


def missing(ex: Experiment, runs: list[Run]) -> list[tuple[str, RunConfig]]:
    """(variant, seed's configuration) for every seed with no run done, queued or running."""
    return [(name, config) for name, found in variant_runs(ex, runs).items() for config in found.missing]


def queue_exercise(store: RunStore, ex: Experiment, *, claim: bool = False) -> list[int]:
    """Queue the seeds that are not done (nor queued); their ids. ``claim``: this process trains them. A variant's
    seeds share a group, named for the experiment, the variant and the size, so the Runs page shows them as one."""
    return [store.create_run(config, _run_name(ex, name, config), experiment=ex.name,
                             group=f"{ex.name} · {name} · {_size_key(ex.size)}", claim=claim)
            for name, config in missing(ex, store.list_runs())]


def _run_name(ex: Experiment, variant: str, config: RunConfig) -> str:
    return f"ex {ex.number} · {variant}" + (f" · seed {config.train.seed}" if ex.size["repeats"] > 1 else "")


def _size_of(ex: Experiment, runs: list[Run]) -> dict[str, Any]:
    """The size some runs were trained at; its repeats: the most seeds a variant has among them."""
    first = runs[0].config
    seeds: dict[RunConfig, set[int]] = {}
    for r in runs:
        seeds.setdefault(r.config.with_overrides(seed=0), set()).add(r.config.train.seed)
    return {k: first.get(k) for k in SIZE_SETTINGS if k != "repeats"} | {"repeats": max(map(len, seeds.values()))}


def sizes(ex: Experiment, runs: list[Run]) -> list[dict[str, Any]]:
    """The sizes to show the experiment at: its own first, then its quick look, then the others it has runs at
    (from the command line; newest first)."""
    found = [ex.size, ex.quick_look.size]
    by_size: dict[tuple, list[Run]] = {}
    for r in experiment_runs(ex, runs):
        by_size.setdefault(tuple(r.config.get(k) for k in SIZE_SETTINGS if k != "repeats"), []).append(r)
    for group in by_size.values():
        size = _size_of(ex, group)
        if not any(all(size[k] == f[k] for k in size if k != "repeats") for f in found):
            found.append(size)
    return found


def done(found: Mapping[str, VariantRuns]) -> int:
    """How many runs of ``variant_runs``' variants are done."""
    return sum(len(v.done) for v in found.values())


def fullest_size(ex: Experiment, sizes: list[dict[str, Any]], runs: list[Run]) -> int:
    """Which of ``sizes`` to show first: the one with the most runs done (the first on a tie), so that runs
    started from the shell at another size are seen without looking for them."""
    counts = [done(variant_runs(ex.sized(**size), runs)) for size in sizes]
    return counts.index(max(counts))


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _size_key(size: Mapping[str, Any]) -> str:
    """A size in the English words stored in a group's name (``size_text`` as English reads it)."""
    def images(n: int | None, total: str) -> str:
        return f"{n:,}" if n else f"all {total}"

    return (f"{images(size['train_size'], '60,000')} training images, {images(size['test_size'], '10,000')} test "
            f"images, {plural(size['epochs'], 'epoch')}, {plural(size.get('repeats', 1), 'seed')}")


def size_text(size: Mapping[str, Any]) -> str:
    """A size as a person reads it, in the current language: ``4,000 training images, 1,000 test images, …``."""
    def images(n: int | None, total: int) -> str:
        return format_count(n) if n else _("all {total}").format(total=format_count(total))

    return _("{train} training images, {test} test images, {epochs}, {seeds}").format(
        train=images(size["train_size"], 60000), test=images(size["test_size"], 10000),
        epochs=ngettext("{n} epoch", "{n} epochs", size["epochs"]).format(n=size["epochs"]),
        seeds=ngettext("{n} seed", "{n} seeds", size.get("repeats", 1)).format(n=size.get("repeats", 1)))


def prepared(ex: Experiment) -> Experiment:
    """The experiment at the size it was prepared at, the one that answers its question."""
    own = EXERCISES[ex.number]
    assert isinstance(own, Experiment)
    return own


def is_quick_look(ex: Experiment) -> bool:
    """Sized other than as prepared: its conclusion may not be the one at the size that answers the question."""
    return ex.size != prepared(ex).size


# --- the table ------------------------------------------------------------------------------------------------

COLUMNS = ("status", "runs", "seeds", "parameters", "multiply-adds", "training memory (MB)", "time (s)", "examples/s",
           "train loss", "train acc", "test acc", "test acc sd", "last epoch", "test accs", "went wrong", "run ids")
NUMERIC = ("training memory (MB)", "time (s)", "examples/s", "train loss", "train acc", "test acc", "test acc sd",
           "last epoch")
# The tables' columns as a person reads them (the frames and their CSV keep the English names; setting keys stay).
COLUMN_LABELS = {"variant": N_("variant"), "status": N_("status"), "runs": N_("runs"), "seeds": N_("seeds"),
                 "parameters": N_("parameters"), "multiply-adds": N_("multiply-adds"),
                 "training memory (MB)": N_("training memory (MB)"), "time (s)": N_("time (s)"),
                 "examples/s": N_("examples/s"), "train loss": N_("train loss"), "train acc": N_("train acc"),
                 "test acc": N_("test acc"), "test acc sd": N_("test acc sd"), "last epoch": N_("last epoch"),
                 "test accs": N_("test accs"), "went wrong": N_("went wrong"), "run ids": N_("run ids"),
                 "configuration": N_("configuration"), "batch": N_("batch"),
                 "training estimate (MB)": N_("training estimate (MB)"),
                 "training measured (MB)": N_("training measured (MB)"),
                 "prediction estimate (MB)": N_("prediction estimate (MB)"),
                 "prediction measured (MB)": N_("prediction measured (MB)")}


def column_label(column: str) -> str:
    """A table's column as the current language names it (a setting's key as it is)."""
    return _(COLUMN_LABELS[column]) if column in COLUMN_LABELS else column


def _mixed(status: Outcome | str) -> bool:
    """Whether a status cell counts several outcomes (``2 finished · 1 stalled at 2.303``)."""
    return not isinstance(status, RunStatus | Verdict) and " · " in status


def outcome_counts(status: Outcome | str) -> Counter[Outcome]:
    """A status cell read back: one outcome (all its seeds had it) or how many had each (``_status``'s words)."""
    def parse(word: str) -> Outcome:
        return RunStatus(word) if word in RunStatus._value2member_map_ else Verdict(word)

    if not _mixed(status):
        return Counter({parse(status): 1})
    return Counter({parse(kind): int(n) for n, kind in (part.split(" ", 1) for part in status.split(" · "))})


def outcome_label(status: Outcome | str) -> str:
    """A status cell as a person reads it: ``已完成``; ``2 finished · 1 stalled at 2.303`` in the current language."""
    counts = outcome_counts(status)
    if not _mixed(status):
        return next(iter(counts)).label
    return " · ".join(_("{n} {outcome}").format(n=n, outcome=kind.label) for kind, n in counts.items())


def went_wrong_text(status: Outcome | str, translate: Callable[[str], str] = _) -> str:
    """What went wrong in a variant's runs that ended by training, from its status cell: ``stalled at loss 2.303,
    …`` for all of them, ``1 of 3 runs diverged``; in the current language (``translate``: English for the table)."""
    counts = outcome_counts(status)
    ended = {RunStatus.FINISHED, Verdict.AT_CHANCE, Verdict.STALLED, RunStatus.DIVERGED}
    n = sum(k for o, k in counts.items() if o in ended)
    said = [translate(WENT_WRONG[o]) if k == n or not _mixed(status) else
            translate(N_("{k} of {n} runs {wrong}")).format(k=k, n=n, wrong=translate(WENT_WRONG[o]))
            for o, k in counts.items() if o in WENT_WRONG]
    return translate("; ").join(said)


@lru_cache(maxsize=64)
def cost(arch: ArchConfig) -> tuple[int, int]:
    """Parameters and multiply-adds per image (remembered: a page draws the same variants on every rerun)."""
    table = shape_table(arch)
    return table.total_params, table.total_mult_adds


@lru_cache(maxsize=64)
def _training_mb(config: RunConfig) -> float:
    return memory_estimate(config).train_bytes / MB


@lru_cache(maxsize=1)
def _book_training_mb() -> float:
    """The seed's training memory in float32, as the book trained it."""
    return memory_estimate(SEED, precision="float32").train_bytes / MB


def _setting_value(config: RunConfig, name: str) -> Any:
    value = config.get(name)
    return format_value(value) if isinstance(value, tuple) else value


def _status(found: VariantRuns) -> Outcome | str:
    """The outcome its seeds share, or how many had each (``2 finished · 1 stalled at 2.303``): the table's English,
    which ``outcome_label`` shows in the reader's language."""
    counts = Counter(outcome(run) for run in found.runs)
    if len(counts) == 1:
        return next(iter(counts))
    return " · ".join(f"{n} {kind}" for kind, n in counts.most_common())


def _went_wrong(found: VariantRuns) -> str:
    """What went wrong in its runs, in the table's English: ``stalled at loss 2.303, …`` for all of them, ``1 of 3
    runs diverged`` (``went_wrong_text`` of its status, which says it in the reader's language)."""
    return went_wrong_text(_status(found), translate=str)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _last_epoch_gain(store: RunStore, run: Run) -> float | None:
    """How much the run's test accuracy rose over its last epoch (None before two epochs ended)."""
    accs = [p.test_acc for p in store.metrics(run.id) if p.test_acc is not None]
    return accs[-1] - accs[-2] if len(accs) > 1 else None


def _variant_row(ex: Experiment, store: RunStore, found: VariantRuns) -> dict[str, Any]:
    done_runs = found.done
    finals = [r.final for r in done_runs]
    accs = tuple(f["test_acc"] for f in finals if f.get("test_acc") is not None)
    params, mult_adds = cost(found.config.arch)
    return {"variant": found.name, **{k: _setting_value(found.config, k) for k in ex.varied},
            "status": _status(found), "runs": len(done_runs), "seeds": len(found.seeds),
            "parameters": params, "multiply-adds": mult_adds,
            "training memory (MB)": _training_mb(found.config),
            "time (s)": sum(r.duration_s or 0 for r in done_runs) if done_runs else None,
            **{col: _mean([f[key] for f in finals if f.get(key) is not None])
               for col, key in (("examples/s", "examples_per_sec"), ("train loss", "train_loss"),
                                ("train acc", "train_acc"))},
            "test acc": _mean(list(accs)), "test acc sd": noise.spread(accs).sd if accs else None,
            "last epoch": _mean([g for g in (_last_epoch_gain(store, r) for r in done_runs) if g is not None]),
            "test accs": accs, "went wrong": _went_wrong(found), "run ids": ", ".join(str(r.id) for r in found.present)}


def _book_row(ex: Experiment, book: BookResult) -> dict[str, Any]:
    """The book's result, beside the seed's settings and costs (float32, as the book trained)."""
    params, mult_adds = cost(SEED.arch)
    return {"variant": book.label, **{k: _setting_value(SEED, k) for k in ex.varied}, "status": Verdict.REFERENCE,
            "parameters": params, "multiply-adds": mult_adds,
            "training memory (MB)": _book_training_mb(),
            "examples/s": book.examples_per_sec, "train loss": book.train_loss, "train acc": book.train_acc,
            "test acc": book.test_acc, "test accs": ()}


def result_frame(ex: Experiment, store: RunStore) -> pd.DataFrame:
    """One row per variant, over its seeds' runs: the settings it changes, its outcome, how many runs are done,
    parameters, multiply-adds per image, training memory at its batch size, the runs' time summed, the means of
    their final metrics, the test accuracy's standard deviation between seeds and each seed's, how much the test
    accuracy still rose in the last epoch, the run ids; then the book's results for reference."""
    found = variant_runs(ex, store.list_runs())
    rows = [_variant_row(ex, store, variant) for variant in found.values()]
    rows += [_book_row(ex, book) for book in ex.book]
    frame = pd.DataFrame(rows, columns=["variant", *ex.varied, *COLUMNS])
    for col in NUMERIC:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in ("runs", "seeds"):
        frame[col] = frame[col].astype("Int64")
    return frame


def curves(ex: Experiment, store: RunStore, runs: list[Run]) -> tuple[dict[str, list[MetricPoint]], dict]:
    """Each variant's mean curve over its seeds' runs and their bands (for ``charts.curves_figure``)."""
    return curves_of(store, {name: found.present for name, found in variant_runs(ex, runs).items()})


NUMBER_FORMATS = {"parameters": "{:,}", "multiply-adds": "{:,}", "time (s)": "{:.0f}", "examples/s": "{:,.1f}",
                  "train loss": "{:.3f}", "train acc": "{:.3f}", "test acc": "{:.3f}", "last epoch": "{:+.3f}"}


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as a person reads it, in the current language: every number formatted (megabytes whole), a missing
    one as a dash, the test accuracy as mean ± standard deviation between seeds (the seeds' own values are in the
    CSV); the variants, statuses and columns named in the reader's words (the frame keeps its English)."""
    shown = frame.drop(columns=["test accs"], errors="ignore")
    for col in shown:
        fmt = NUMBER_FORMATS.get(col, "{:,.0f}" if col.endswith("(MB)") else None)
        if fmt:
            shown[col] = ["—" if pd.isna(v) else fmt.format(v) for v in shown[col]]
    if "test acc sd" in shown:
        shown["test acc"] = [acc if pd.isna(sd) else f"{acc} ± {sd:.3f}"
                             for acc, sd in zip(shown["test acc"], frame["test acc sd"], strict=True)]
        shown["runs"] = ["" if pd.isna(n) else _("{done} of {seeds}").format(done=n, seeds=k)
                         for n, k in zip(frame["runs"], frame["seeds"], strict=True)]
        shown = shown.drop(columns=["test acc sd", "seeds"])
    for col in ("variant", "configuration"):  # the names declared with N_ (variants, the book's rows, presets)
        if col in shown:
            shown[col] = [_(v) for v in shown[col]]
    if "status" in shown:
        shown["status"] = [outcome_label(v) for v in shown["status"]]
    if "went wrong" in shown:
        shown["went wrong"] = [went_wrong_text(v) for v in frame["status"]]
    return shown.fillna("").rename(columns=column_label)


def table_text(frame: pd.DataFrame) -> str:
    """The table as the command line prints it."""
    return display_frame(frame).to_string(index=False)


# --- conclusions ----------------------------------------------------------------------------------------------

STILL_LEARNING = 0.02  # a test accuracy that rose this much in the last epoch has not flattened yet


def _signed(value: float, fmt: str) -> str:
    return format(value, "+" + fmt).replace("-", "−")


def _percent(new: float, old: float) -> str:
    return _signed(100 * (new / old - 1), ".0f") + " %"


def _ended(frame: pd.DataFrame) -> pd.DataFrame:
    """The variants whose every seed has ended by training (with a test accuracy, or an end that has none)."""
    rows = frame[frame["status"] != Verdict.REFERENCE]
    return rows[(rows["runs"] > 0) & (rows["runs"] == rows["seeds"])]


COST_WORDS = (("parameters", N_("parameters")), ("multiply-adds", N_("multiply-adds")),
              ("training memory (MB)", N_("training memory")))


def _costs(row: pd.Series, ref: pd.Series) -> str:
    """What a variant changes in parameters, computation and training memory, against the reference."""
    said = [_("{what} {change}").format(what=_(what), change=_percent(row[col], ref[col])) for col, what in COST_WORDS
            if abs(row[col] / ref[col] - 1) >= 0.005]
    return _("; ") + _(", ").join(said) if said else ""


def _name(variant: str) -> str:
    """A variant (or the book's row) as the reader's language names it."""
    return _(variant)


def _sentences(sentences: list[str]) -> str:
    """Sentences one after another: a space after an English full stop, none after a Chinese one."""
    return " ".join(s for s in sentences if s).replace("。 ", "。")


def _against(ex: Experiment, frame: pd.DataFrame) -> str:
    """Each variant against the chapter's: the difference of their test accuracies judged against the noise
    between seeds, and what it changes in parameters, computation and memory."""
    ended = _ended(frame)
    ref = ended[ended["variant"] == ex.reference]
    if ref.empty:
        return ""
    ref = ref.iloc[0]
    parts = []
    for _i, row in ended[ended["variant"] != ex.reference].iterrows():
        wrong = went_wrong_text(row["status"])
        if row["test accs"] and ref["test accs"]:
            text = _("{variant}: {difference}").format(
                variant=_name(row["variant"]), difference=noise.compare(ref["test accs"], row["test accs"]).text())
        else:
            text = _("{variant}: none, it {wrong}").format(variant=_name(row["variant"]), wrong=wrong)
            wrong = ""
        parts.append(text + _costs(row, ref) + (_(" ({wrong})").format(wrong=wrong) if wrong else ""))
    if not parts:
        return ""
    acc = noise.spread(ref["test accs"]).text() if ref["test accs"] else went_wrong_text(ref["status"])
    return _("Against {reference} (test acc {acc}, {params} parameters), test accuracy changed by: {changes}.").format(
        reference=_name(ex.reference), acc=acc, params=format_count(ref["parameters"]), changes=_("; ").join(parts))


def _best(ex: Experiment, frame: pd.DataFrame) -> str:
    """The variant with the highest mean test accuracy, called the best only when it is beyond the noise of every
    other; and the variants still learning at the end, whose order a longer run may change."""
    ended = _ended(frame).dropna(subset=["test acc"])
    if ended.empty:
        return ""
    best = ended.loc[ended["test acc"].idxmax()]
    top = _("{variant}, {spread}").format(variant=_name(best["variant"]), spread=noise.spread(best["test accs"]).text())
    tied = [_name(row["variant"]) for _i, row in ended.iterrows() if row["variant"] != best["variant"]
            and noise.compare(best["test accs"], row["test accs"]).finding != noise.Finding.WORSE]
    if len(ended) > 1 and min(map(len, ended["test accs"])) < 2:
        text = _("The highest test accuracy: {top}; with one run of a variant there is no noise estimate to tell the "
                 "order from chance ({needed} seeds each would give one).").format(top=top, needed=noise.NEEDED)
    elif tied:
        text = _("No variant stands out beyond the noise between seeds: the highest mean test accuracy, {top}, is "
                 "within noise of {others}.").format(top=top, others=_listed(tied))
    else:
        text = _("The best mean test accuracy, beyond the noise of every other variant: {top}.").format(top=top)
    rising = ended[ended["last epoch"] >= STILL_LEARNING]
    if len(rising):
        text = _sentences([text, _(
            "Still learning at the end (test accuracy up {threshold} or more in the last epoch): {variants}; a longer "
            "run may change the order.").format(threshold=format(STILL_LEARNING, ".2f"),
                                                variants=_listed([_name(v) for v in rising["variant"]]))])
    return text


def _listed(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (in the current language)."""
    if len(words) < 2:
        return "".join(words)
    return _("{items} and {last}").format(items=_(", ").join(words[:-1]), last=words[-1])


def _rates_said(rows: pd.DataFrame) -> str:
    """The rates in ``rows`` grouped by what went wrong in all their runs, then those that trained with their mean
    test accuracies."""
    groups: dict[str | None, list[pd.Series]] = {}
    for _i, row in rows.sort_values("lr").iterrows():
        groups.setdefault(WENT_WRONG.get(row["status"]), []).append(row)

    def rates(group: list[pd.Series]) -> str:
        return _("lr {rates}").format(rates=_listed([format(r["lr"], "g") for r in group]))

    said = [_("{rates} {wrong}").format(rates=rates(group), wrong=_(wrong)) for wrong, group in groups.items() if wrong]
    if None in groups:
        accs = _listed([format(r["test acc"], ".3f") if pd.notna(r["test acc"]) else "—" for r in groups[None]])
        said.append(_("{rates} trained (mean test acc {accs})").format(rates=rates(groups[None]), accs=accs))
    return _("; ").join(said)


def _grid(ex: Experiment, frame: pd.DataFrame) -> str:
    """A grid of rates without and with batch norm, read along its two axes: for each batch norm setting, which
    rates learned and which did not; then what batch norm changed at the rates that have both, against the noise."""
    ended = _ended(frame)
    sentences = [label.format(rates=_rates_said(ended[ended["batch_norm"] == bn]))
                 for bn, label in ((False, _("Without batch norm: {rates}.")), (True, _("With batch norm: {rates}.")))
                 if (ended["batch_norm"] == bn).any()]
    accs = {(row["lr"], row["batch_norm"]): row["test accs"] for _i, row in ended.iterrows() if row["test accs"]}
    pairs = {lr: noise.compare(accs[lr, False], accs[lr, True]) for lr, bn in accs if bn and (lr, False) in accs}
    if pairs:
        gains = {lr: d.delta for lr, d in pairs.items()}
        best = max(gains, key=lambda lr: gains[lr])
        judged = {finding: [f"{lr:g}" for lr, d in pairs.items() if d.finding == finding] for finding in noise.Finding}
        said = [_("{finding} at lr {rates}").format(finding=finding.label, rates=_listed(rates))
                for finding, rates in judged.items() if rates and finding != noise.Finding.NO_ESTIMATE]
        if judged[noise.Finding.NO_ESTIMATE]:
            said.append(_("no noise estimate at lr {rates} (one run a side)").format(
                rates=_listed(judged[noise.Finding.NO_ESTIMATE])))
        sentences.append(ngettext(
            "Batch norm changed mean test accuracy by {change} on average over {n} rate (at most {most}, at lr "
            "{lr}): {findings}.",
            "Batch norm changed mean test accuracy by {change} on average over {n} rates (at most {most}, at lr "
            "{lr}): {findings}.", len(gains)).format(
            change=_signed(statistics.fmean(gains.values()), ".3f"), n=len(gains), most=_signed(gains[best], ".3f"),
            lr=format(best, "g"), findings=_("; ").join(said)))
    return _sentences(sentences)


def _book(ex: Experiment, frame: pd.DataFrame) -> str:
    """The chapter's settings here beside the book's run of the seed (for the experiments that train the seed)."""
    ref = _ended(frame)
    ref = ref[ref["variant"] == ex.reference]
    book = frame[(frame["status"] == Verdict.REFERENCE) & frame["train loss"].notna()]
    if ref.empty or book.empty or pd.isna(ref.iloc[0]["test acc"]):
        return ""
    mine, theirs = ref.iloc[0]["test acc"], book.iloc[0]["test acc"]
    return _("The book's run of the seed (224 px, all 60,000 images, 10 epochs) reached test acc {theirs}; the "
             "chapter's settings here ({size} at {resize} px) reached {mine} on average ({difference}).").format(
        theirs=format(theirs, ".3f"), size=size_text(ex.size), resize=ex.base.arch.resize, mine=format(mine, ".3f"),
        difference=_signed(mine - theirs, ".3f"))


def conclusion(ex: Experiment, frame: pd.DataFrame) -> str:
    """What the runs in ``frame`` (``result_frame``) say, in the experiment's own sentences, written from their
    numbers, in the current language; empty until two variants have every seed ended."""
    ended = _ended(frame)
    if len(ended) < 2:
        return ""
    text = _sentences([say(ex, frame) for say in ex.sentences])
    variants = (frame["status"] != Verdict.REFERENCE).sum()
    return text if len(ended) == variants else _("So far ({ended} of {variants} variants): {text}").format(
        ended=len(ended), variants=variants, text=text)


# --- the five exercises ---------------------------------------------------------------------------------------

# The chapter's four NiN blocks sized for 28 px, built the chapter's way (two 1×1 convolutions, dropout, no batch
# norm): minutes on a CPU for a whole experiment on a subset.
NETWORK = ArchConfig(blocks=(BlockConfig(48, 5, 1, 2), BlockConfig(96, 3, 1, 1), BlockConfig(128, 3, 1, 1),
                             BlockConfig(10, 3, 1, 1)), resize=28)
# Each experiment's size is meant to reach the regime its question is about (the chapter's variant clearly off
# chance) in about 15 minutes on a 2-core CPU, three seeds a variant (docs/benchmarks.md, measured): the seed's plain
# SGD (lr 0.1, xavier init) sits at chance for hundreds of steps at 28 px and leaves it after about 500; AdamW
# leaves it after about 70. Curves still rising at the end are named in the conclusion.
SGD_BASE = RunConfig(arch=NETWORK, train=TrainConfig(batch_size=64, train_size=12000, test_size=1000, epochs=4,
                                                    repeats=3))
ADAMW_BASE = SGD_BASE.with_overrides(optimizer="adamw", lr=0.002, train_size=8000, epochs=3)

EXERCISES: dict[int, Exercise] = {e.number: e for e in (
    Experiment(
        1, N_("Learning rate and batch norm"),
        N_("Tune the hyperparameters to improve the classification accuracy."),
        N_("The seed's plain SGD over a small grid of learning rates, without and with batch norm: where NiN stalls "
           "at loss 2.303 (every class map zero, chance accuracy), and what batch norm changes."),
        SGD_BASE.with_overrides(batch_size=32, train_size=8000, epochs=3),  # small batches: more steps per image
        tuple(Variant(name, {"lr": lr, "batch_norm": bn}) for name, lr, bn in (
            (N_("lr 0.01"), 0.01, False), (N_("lr 0.1"), 0.1, False), (N_("lr 1"), 1.0, False),
            (N_("lr 0.01 + batch norm"), 0.01, True), (N_("lr 0.1 + batch norm"), 0.1, True),
            (N_("lr 1 + batch norm"), 1.0, True))),
        "lr 0.1",
        (_grid, _best, _book)),  # a grid, read along its two axes; the seed's training, beside the book's run
    Experiment(
        2, N_("1×1 convolutions"),
        N_("Why are there two 1×1 convolutional layers per NiN block? Remove one of them, and then observe and "
           "analyze the experimental phenomena."),
        N_("The same network with no, one, two (the chapter) and three 1×1 convolutions per block."),
        ADAMW_BASE,
        (Variant(N_("no 1×1 conv"), {"pointwise_convs": 0}), Variant(N_("one 1×1 conv"), {"pointwise_convs": 1}),
         Variant(N_("two 1×1 convs (the chapter)"), {"pointwise_convs": 2}),
         Variant(N_("three 1×1 convs"), {"pointwise_convs": 3})),
        "two 1×1 convs (the chapter)",
        (_against, _best)),
    Measurement(
        3, N_("Resource usage"),
        N_("Calculate the resource usage for NiN: the number of parameters, the amount of computation, the memory "
           "needed during training and during prediction."),
        N_("The shape inspector's totals for the seed at 224 px and the cpu preset at 28 px, and the memory of one "
           "training step and one prediction at the training batch size: the estimate beside a measurement on this "
           "machine (float32, each in a fresh process).")),
    Experiment(
        4, N_("The one-step reduction"),
        N_("What are possible problems with reducing the 384×5×5 representation to a 10×5×5 representation in one "
           "step?"),
        N_("The last block maps its input to one map per class in one step (here 128 → 10); against it: the same "
           "without the ReLU that can zero every map, a fully connected head on the 10 maps, and a gentler "
           "reduction to 96 maps before a fully connected layer. With the class maps of one test image."),
        ADAMW_BASE,
        (Variant(N_("one step to 10 maps (the chapter)")),
         Variant(N_("no ReLU after the last block"), {"final_relu": False}),
         Variant(N_("fully connected head on the 10 maps"), {"head": "fc"}),
         Variant(N_("gentler: 96 maps, then fully connected"),
                 {"blocks": (*NETWORK.blocks[:-1], BlockConfig(96, 3, 1, 1)), "head": "fc"})),
        "one step to 10 maps (the chapter)",
        (_against, _best), class_maps=True),
    Experiment(
        5, N_("Batch norm at the seed's rate"),
        N_("From the next chapters: batch normalization, on and off, at the seed's learning rate 0.1."),
        N_("The seed's training (plain SGD, lr 0.1) with and without a batch norm after every convolution, on more "
           "images and epochs than the other experiments: long enough for the chapter's network to leave chance."),
        SGD_BASE,
        (Variant(N_("no batch norm (the chapter)")), Variant(N_("batch norm"), {"batch_norm": True})),
        "no batch norm (the chapter)",
        (_against, _best, _book)),  # the seed's training: the book's run is its reference too
)}


def warm() -> None:
    """Each variant's costs and the book's, computed once ahead (the Exercises page's first visit draws at once)."""
    cost(SEED.arch)
    _book_training_mb()
    for ex in EXERCISES.values():
        if isinstance(ex, Experiment):
            for config in ex.configs().values():
                cost(config.arch)
                _training_mb(config)


def exercise(number: int) -> Exercise:
    try:
        return EXERCISES[number]
    except KeyError:
        raise ValueError(_("there is no exercise {number}: choose 1 to {last}").format(
            number=number, last=len(EXERCISES))) from None


# --- exercise 3: resources ------------------------------------------------------------------------------------

RESOURCE_CONFIGS = {N_("the seed at 224 px"): SEED, N_("the cpu preset at 28 px"): CPU}  # ``_(label)`` where shown
MEASURED_FILE = "exercise-3.json"


def measure_memory(config: RunConfig, batch: int, training: bool, precision: str = "float32") -> int:
    """Bytes one training step (or one prediction) of ``batch`` images takes at its peak, in ``precision``, measured
    in a fresh process so that nothing this one holds counts, laid out as the Trainer runs it (channels_last): on a
    GPU the peak of ``torch.cuda.max_memory_allocated``, on a CPU the peak resident memory, each over what the
    process held with the model built, plus the parameters."""
    child = config.with_overrides(precision=precision).to_json(None)
    return in_fresh_process("nin_core.lab.exercises:memory_child", child, batch, training)


def memory_child(config_json: str, batch: int, training: bool) -> int:
    import copy
    import ctypes
    import gc

    import torch

    from nin_core.network.devices import resolve_device, synchronize
    from nin_core.network.model import build_model
    from nin_core.network.train import autocast, autocast_dtype, make_loss, make_optimizer, train_step

    config = RunConfig.from_json(config_json)
    device, a = resolve_device(config.train.device), config.arch
    dtype, cuda = autocast_dtype(config, device), device.type == "cuda"
    model = build_model(a, config.train.init).to(device).to(memory_format=torch.channels_last)

    def step(net: torch.nn.Module, images: int) -> None:
        x = torch.rand(images, a.in_channels, a.resize, a.resize, device=device)
        x = x.contiguous(memory_format=torch.channels_last)
        if training:
            y = torch.randint(0, a.num_classes, (images,), device=device)
            train_step(net, make_optimizer(config, net.parameters()), make_loss(config), x, y, dtype)
        else:
            with torch.inference_mode(), autocast(device, dtype):
                net.eval()(x)
        synchronize(device)

    step(copy.deepcopy(model), 1)  # libraries, threads and kernels set up, on a copy, before the measured step
    gc.collect()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        if sys.platform == "linux":
            ctypes.CDLL(None).malloc_trim(0)  # glibc: freed memory back to the system, so RSS is what is held
        before = _resident_peak(reset=True)
    step(model, batch)
    peak = torch.cuda.max_memory_allocated(device) if cuda else _resident_peak()
    return max(0, peak - before) + sum(t.nbytes for t in [*model.parameters(), *model.buffers()])


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
        params, mult_adds = cost(config.arch)
        estimate = memory_estimate(config, b, "float32")
        found = measured.get(label, {})
        rows.append({"configuration": label, "batch": b, "parameters": params, "multiply-adds": mult_adds,
                     "training estimate (MB)": estimate.train_bytes / MB,
                     "training measured (MB)": found.get("train", math.nan) / MB,
                     "prediction estimate (MB)": estimate.inference_bytes(b) / MB,
                     "prediction measured (MB)": found.get("predict", math.nan) / MB})
    return pd.DataFrame(rows)


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def resource_conclusion(frame: pd.DataFrame) -> str:
    """What the resource table says, from its numbers, in the current language: the seed against the cpu preset,
    estimate against measurement, training against prediction."""
    if len(frame) < 2:
        return ""
    big, small = frame.iloc[0], frame.iloc[1]
    sentences = [_("{configuration} has {params} parameters and {mult_adds} M multiply-adds per image: {params_ratio}× "
                   "the parameters and {mult_adds_ratio}× the computation of {other}.").format(
        configuration=_capitalized(_(big["configuration"])), params=format_count(big["parameters"]),
        mult_adds=format(big["multiply-adds"] / 1e6, ",.0f"),
        params_ratio=format(big["parameters"] / small["parameters"], ".1f"),
        mult_adds_ratio=format(big["multiply-adds"] / small["multiply-adds"], ".0f"), other=_(small["configuration"]))]
    for _i, row in frame.iterrows():
        train, predict = row["training estimate (MB)"], row["prediction estimate (MB)"]
        measured = ""
        if pd.notna(row["training measured (MB)"]):
            off = 100 * (row["training measured (MB)"] / train - 1)
            measured = (_(", {measured} MB as measured ({percent} over it)") if off > 0 else
                        _(", {measured} MB as measured ({percent} under it)")).format(
                measured=format(row["training measured (MB)"], ",.0f"), percent=format(abs(off), ".0f") + " %")
        predict_measured = (_(" (measured {measured} MB)").format(measured=format(row["prediction measured (MB)"],
                                                                                  ",.0f"))
                            if pd.notna(row["prediction measured (MB)"]) else "")
        sentences.append(_(
            "Training {configuration} on a batch of {batch} needs about {train} MB by the estimate{measured}; "
            "predicting the same batch {predict} MB{predict_measured}: training holds {ratio}× as much, the "
            "activations kept for the backward pass.").format(
            configuration=_(row["configuration"]), batch=row["batch"], train=format(train, ",.0f"), measured=measured,
            predict=format(predict, ",.0f"), predict_measured=predict_measured, ratio=format(train / predict, ".0f")))
    return _sentences(sentences)


# --- exercise 4: class maps -----------------------------------------------------------------------------------

def class_map_pictures(found: Mapping[str, VariantRuns], seed: int = 0) -> list[tuple[str, Any]]:
    """One test image through each variant that pools class maps and has a checkpoint (its first seed's run that
    ended by training): (variant, the picture of its ten maps, each labelled with its mean, the logit)."""
    from PIL import Image

    from nin_core.lab.explorer import class_maps_picture, explore
    from nin_core.network.data import CLASS_NAMES, sample_test_images
    from nin_core.network.predict import Predictor

    firsts = {name: variant.done[0] for name, variant in found.items() if variant.done}
    usable = {name: run.checkpoint for name, run in firsts.items()
              if run.config.arch.head == "gap" and run.checkpoint and Path(run.checkpoint).is_file()}
    if not usable:
        return []
    [(image, _)] = sample_test_images(1, seed)
    pictures = []
    for name, checkpoint in usable.items():
        predictor = Predictor.from_checkpoint(checkpoint)
        x, _, _ = predictor.model_input(Image.fromarray(image.numpy()))
        pictures.append((name, class_maps_picture(explore(predictor.model, x), CLASS_NAMES)))
    return pictures


# --- from the shell -------------------------------------------------------------------------------------------

def train_exercise(store: RunStore, ex: Experiment, *, on_progress: Callable[[int, Any], None] | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> None:
    """Queue the experiment's missing variants for this process and train them one after another, then wait for
    those queued elsewhere (from the page) to end."""
    from nin_core.runs.jobs import ensure_worker, run_training

    ids = queue_exercise(store, ex, claim=True)
    for run_id in ids:
        if should_stop():
            store.finish(run_id, RunStatus.STOPPED, message="stopped before it started")
            continue
        run_training(store, run_id, should_stop=should_stop,
                     on_progress=partial(on_progress, run_id) if on_progress else None)
    ensure_worker(store)  # variants queued from the page train in the background worker
    while not should_stop() and any(v.active for v in variant_runs(ex, store.list_runs()).values()):
        time.sleep(2)

"""The chapter's exercises as experiments: what is done is not queued again, the table and the conclusion come
from the runs (another table, another conclusion), exercise 3 measures memory in a fresh process, one experiment
runs end to end from the shell at a reduced size, and the Exercises page queues, shows and concludes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import APP, ROOT
from streamlit.testing.v1 import AppTest

from nin_core.lab import exercises as exs
from nin_core.network.config import CPU, TINY, BlockConfig
from nin_core.network.metrics import MetricPoint, Progress
from nin_core.network.shapes import shape_table
from nin_core.network.status import ENDED_BY_TRAINING, RunStatus
from nin_core.runs.store import RunStore

SMALL = {"train_size": 200, "test_size": 100, "epochs": 1, "repeats": 1}
SEEDS = SMALL | {"repeats": 3}


def ended_run(store: RunStore, ex, variant: str, test_acc: float | None, *, status: str = "finished",
              train_loss: float = 0.9, seed: int = 0, accs: tuple[float, ...] = ()) -> int:
    """A run of ``variant`` (its ``seed``-th seed) recorded as ended with these numbers, as the worker would have
    left it; ``accs``: its test accuracy after each epoch before the last."""
    config = ex.configs()[variant].seed_configs()[seed]
    run_id = store.create_run(config, f"ex {ex.number} · {variant}", experiment=ex.name)
    store.mark_running(run_id, "cpu")
    earlier = [MetricPoint(float(e), train_loss + 0.1, 0.5, acc) for e, acc in enumerate(accs, 1)]
    store.record(run_id, Progress(), [MetricPoint(0.5, train_loss + 0.3, 0.4), *earlier,
                                      MetricPoint(len(accs) + 1.0, train_loss, 0.6, test_acc)])
    final = {"train_loss": train_loss, "train_acc": 0.6, "examples_per_sec": 400.0}
    store.finish(run_id, status, final=final | ({"test_acc": test_acc} if test_acc is not None else {}))
    return run_id


def test_what_is_done_or_queued_is_not_queued_again(store):
    ex = exs.exercise(5).sized(**SMALL)
    chapter, bn = (v.name for v in ex.variants)
    ended_run(store, ex, chapter, 0.1)
    ended_run(store, ex, bn, None, status="failed")  # failed: to be run again
    store.create_run(ex.configs()[bn], "same settings, no experiment")  # not this experiment's: does not count
    assert [name for name, _ in exs.missing(ex, store.list_runs())] == [bn]
    [queued] = exs.queue_exercise(store, ex)
    run = store.get_run(queued)
    assert run.experiment == ex.name == "exercise 5: batch norm at the seed's rate" and run.config == ex.configs()[bn]
    assert exs.missing(ex, store.list_runs()) == [] and exs.queue_exercise(store, ex) == []  # a second visit
    assert [r.id for r in exs.variant_runs(ex, store.list_runs())[bn].present] == [queued]
    # the same experiment at its own size is another set of runs (three seeds each), and the sizes present are offered
    own = exs.exercise(5)
    assert [name for name, _ in exs.missing(own, store.list_runs())] == [chapter] * 3 + [bn] * 3
    assert exs.sizes(own, store.list_runs()) == [own.size, own.quick_look.size, SMALL]


def test_stalled_runs_are_done_and_shown_as_such(store):
    ex = exs.exercise(1).sized(**SMALL)
    ended_run(store, ex, "lr 1", None, status="stalled", train_loss=2.302585)
    ended_run(store, ex, "lr 0.1", 0.1, train_loss=2.3031)
    ended_run(store, ex, "lr 1 + batch norm", 0.71)
    ended_run(store, ex, "lr 0.1 + batch norm", 0.64)
    frame = exs.result_frame(ex, store).set_index("variant")
    assert frame.loc["lr 1", "status"] == "stalled at 2.303" and frame.loc["lr 0.1", "status"] == "at chance (2.303)"
    assert frame.loc["lr 0.01", "status"] == "not run"
    assert "lr 1" not in [name for name, _ in exs.missing(ex, store.list_runs())]
    said = exs.conclusion(ex, frame.reset_index())
    assert said.startswith("So far (4 of 6 variants): Without batch norm: lr 0.1 stayed at chance, loss 2.303; "
                           "lr 1 stalled at loss 2.303, every class map zero. With batch norm: lr 0.1 and 1 trained "
                           "(mean test acc 0.640 and 0.710). Batch norm changed mean test accuracy by +0.540 on "
                           "average over 1 rate (at most +0.540, at lr 0.1): no noise estimate at lr 0.1 (one run a "
                           "side)."), said
    assert ("The highest test accuracy: lr 1 + batch norm, 0.710 (1 run); with one run of a variant there is no "
            "noise estimate to tell the order from chance (3 seeds each would give one).") in said
    assert "The book's run of the seed (224 px, all 60,000 images, 10 epochs) reached test acc 0.790" in said


def test_the_table_and_its_conclusion_come_from_the_runs(store):
    ex = exs.exercise(2).sized(**SMALL)
    accs = {"no 1×1 conv": 0.61, "one 1×1 conv": 0.688, "two 1×1 convs (the chapter)": 0.70}
    for variant, acc in accs.items():
        ended_run(store, ex, variant, acc)
    frame = exs.result_frame(ex, store)
    assert list(frame["variant"]) == [v.name for v in ex.variants] + [b.label for b in exs.BOOK]
    rows = frame.set_index("variant")
    params = {v: shape_table(c.arch).total_params for v, c in ex.configs().items()}
    assert rows.loc["one 1×1 conv", "parameters"] == params["one 1×1 conv"]
    assert rows.loc["three 1×1 convs", "status"] == "not run" and pd.isna(rows.loc["three 1×1 convs", "test acc"])
    book = rows[rows["status"] == exs.Verdict.REFERENCE]
    assert list(book["test acc"]) == [0.790, 0.867] and book["examples/s"].iloc[0] == 3087.6
    assert list(book["pointwise_convs"]) == [2, 2]  # the book's runs are the chapter's settings

    one = round(100 * (params["one 1×1 conv"] / params["two 1×1 convs (the chapter)"] - 1))
    said = exs.conclusion(ex, frame)
    assert "one 1×1 conv: −0.012: no noise estimate with one run on a side" in said, said
    assert f"; parameters −{-one} %, multiply-adds −20 %, training memory" in said, said
    assert said.startswith("So far (3 of 4 variants): Against two 1×1 convs (the chapter) (test acc 0.700 (1 run)")
    assert "The highest test accuracy: two 1×1 convs (the chapter), 0.700 (1 run)" in said

    other = frame.copy()  # other numbers, another conclusion
    one_row = other["variant"] == "one 1×1 conv"
    other.loc[one_row, "test acc"] = 0.75
    other.loc[one_row, "test accs"] = pd.Series([(0.75,)], index=other.index[one_row])
    other_said = exs.conclusion(ex, other)
    assert other_said != said
    assert "one 1×1 conv: +0.050" in other_said
    assert "The highest test accuracy: one 1×1 conv, 0.750 (1 run)" in other_said


def with_checkpoints(store: RunStore, ex) -> None:
    """Every variant of ``ex`` ended, with a checkpoint of its (untrained) network."""
    from nin_core.network.checkpoint import save_checkpoint
    from nin_core.network.model import build_model

    for variant, config in ex.configs().items():
        run_id = ended_run(store, ex, variant, 0.5)
        store.set_checkpoint(run_id, save_checkpoint(store.run_dir(run_id) / "checkpoint.pt",
                                                     build_model(config.arch), config, epoch=1))


def test_exercise_4_draws_the_class_maps_of_the_variants_that_pool_them(store):
    ex = exs.exercise(4).sized(**SMALL)
    with_checkpoints(store, ex)
    pictures = exs.class_map_pictures(exs.variant_runs(ex, store.list_runs()))
    assert [name for name, _ in pictures] == ["one step to 10 maps (the chapter)", "no ReLU after the last block"]
    assert all(picture.width > 10 * picture.height / 3 for _, picture in pictures)  # ten maps side by side


def test_no_conclusion_before_two_results(store):
    ex = exs.exercise(4).sized(**SMALL)
    assert exs.conclusion(ex, exs.result_frame(ex, store)) == ""
    ended_run(store, ex, ex.reference, 0.6)
    assert exs.conclusion(ex, exs.result_frame(ex, store)) == ""


def test_every_experiment_concludes_in_its_own_sentences_beside_the_book(store):
    """Each trained experiment's table ends with its book rows, and once every variant has a result its conclusion
    is whole and names the best; the experiments that train the seed (plain SGD) set the book's run beside theirs."""
    for ex in (e.sized(**SMALL) for e in exs.EXERCISES.values() if e.trains):
        for i, variant in enumerate(ex.configs()):
            ended_run(store, ex, variant, 0.5 + i / 100)
        frame = exs.result_frame(ex, store)
        assert list(frame["variant"].iloc[len(ex.variants):]) == [b.label for b in ex.book] and ex.book
        said = exs.conclusion(ex, frame)
        assert not said.startswith("So far") and f"The highest test accuracy: {ex.variants[-1].name}" in said, said
        assert ("The book's run of the seed" in said) == (ex.base.get("optimizer") == "sgd"), said


def test_an_outcome_at_chance_is_found_from_the_numbers_for_its_number_of_classes(store):
    ten = exs.exercise(5).sized(**SMALL).base
    two = ten.with_overrides(num_classes=2, blocks=(*ten.arch.blocks[:-1], BlockConfig(2, 3, 1, 1)))
    assert not two.validate()

    def outcome(config, status: RunStatus | None = RunStatus.FINISHED, **final: float):
        run_id = store.create_run(config, "a run")
        if status is not None:
            store.mark_running(run_id, "cpu")
            store.finish(run_id, status, final=final)
        return exs.outcome(store.get_run(run_id))

    ln2, ln10 = 0.6931, 2.3026
    assert outcome(two, train_loss=ln2, test_acc=0.52) == exs.Verdict.AT_CHANCE
    assert outcome(ten, train_loss=ln2, test_acc=0.52) == RunStatus.FINISHED  # the same numbers learned, of ten
    assert outcome(ten, train_loss=ln10, train_acc=0.11) == exs.Verdict.AT_CHANCE  # no test accuracy: train's
    assert outcome(two, train_loss=ln10, test_acc=0.11) == RunStatus.FINISHED  # worse than chance is not chance
    assert outcome(ten, train_loss=ln10, test_acc=0.4) == RunStatus.FINISHED  # a loss at chance, not its answers
    assert outcome(ten, RunStatus.STALLED, train_loss=ln10) == exs.Verdict.STALLED
    assert outcome(ten, RunStatus.DIVERGED) == RunStatus.DIVERGED
    assert outcome(ten, None) == RunStatus.QUEUED and exs.outcome(None) == exs.Verdict.NOT_RUN


def test_the_resource_table_and_its_conclusion_follow_the_measurements():
    estimated = exs.resource_frame()
    assert list(estimated["configuration"]) == ["the seed at 224 px", "the cpu preset at 28 px"]
    assert list(estimated["batch"]) == [128, CPU.train.batch_size] and estimated["training measured (MB)"].isna().all()
    seed = estimated.iloc[0]
    assert seed["parameters"] == shape_table(exs.SEED.arch).total_params
    assert seed["training estimate (MB)"] > 4 * seed["prediction estimate (MB)"]
    measured = {"the seed at 224 px": {"train": 2.0e9, "predict": 0.4e9},
                "the cpu preset at 28 px": {"train": 0.1e9, "predict": 0.03e9}}
    said = exs.resource_conclusion(exs.resource_frame(measured=measured))
    train = seed["training estimate (MB)"]
    assert f"2,000 MB as measured ({abs(100 * (2000 / train - 1)):.0f} % over it)" in said
    assert said != exs.resource_conclusion(exs.resource_frame(measured=measured | {"the seed at 224 px": {
        "train": 1.5e9, "predict": 0.4e9}}))
    small = shape_table(CPU.arch)
    assert (f"{seed['parameters'] / small.total_params:.1f}× the parameters and "
            f"{seed['multiply-adds'] / small.total_mult_adds:.0f}× the computation of the cpu preset at 28 px") in said


@pytest.mark.slow
def test_memory_is_measured_in_a_fresh_process():
    train, predict = exs.measure_memory(TINY, 32, True), exs.measure_memory(TINY, 32, False)
    assert train > predict > 0


@pytest.mark.slow
def test_an_experiment_runs_end_to_end_from_the_shell_and_a_second_time_trains_nothing(nin_home):
    args = [sys.executable, "-m", "nin_core", "exercise", "5", "--train-size", "256", "--test-size", "128",
            "--epochs", "1", "--repeats", "2"]
    out = subprocess.run([*args, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "A quick look (256 training images, 128 test images, 1 epoch, 2 seeds)" in out.stderr
    ex = exs.exercise(5).sized(train_size=256, test_size=128, epochs=1, repeats=2)
    store = RunStore(nin_home)
    runs = store.list_runs()
    assert len(runs) == 4 and {r.experiment for r in runs} == {ex.name}
    assert sorted(r.config.train.seed for r in runs) == [0, 0, 1, 1] and len({r.group for r in runs}) == 2
    assert all(r.status in ENDED_BY_TRAINING for r in runs) and all(store.metrics(r.id) for r in runs)
    frame = exs.result_frame(ex, store)
    said = exs.conclusion(ex, frame)
    assert said.startswith("Against no batch norm (the chapter)") and said in out.stdout
    for variant in ("no batch norm (the chapter)", "batch norm", exs.BOOK[0].label):
        assert variant in out.stdout

    again = subprocess.run([*args, "--format", "csv"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and len(store.list_runs()) == 4  # nothing trained again
    table = pd.read_csv(io.StringIO(again.stdout))
    assert list(table["variant"][:2]) == ["no batch norm (the chapter)", "batch norm"]
    assert again.stderr.strip().endswith(said)

    changed = frame.copy()  # the same runs with other test accuracies: another conclusion
    row = changed["variant"] == "batch norm"
    changed.loc[row, "test accs"] = pd.Series([(0.95, 0.96)], index=changed.index[row])
    changed.loc[row, "test acc"] = 0.955
    other = exs.conclusion(ex, changed)
    assert other != said and "batch norm: +" in other


@pytest.mark.parametrize("args, words", [
    (["exercise", "7"], "there is no exercise 7: choose 1 to 5"),
    (["exercise", "x"], "invalid int value"),
    (["exercise", "3", "--epochs", "2"], "exercise 3 trains nothing: only --batch-size applies to it"),
    (["exercise", "3", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["exercise", "2", "--batch-size", "8"], "--batch-size is for exercise 3"),
    (["exercise", "2", "--train-size", "0"], "train.train_size: must be between 1 and 60000, got 0"),
    (["exercise", "2", "--epochs", "two"], "train.epochs: must be a whole number, got 'two'"),
])
def test_exercise_refuses_bad_input_in_one_line(args, words, nin_home, capsys):
    from nin_core.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and RunStore(nin_home).list_runs() == []


# --- the page ---------------------------------------------------------------------------------------------------

@pytest.fixture
def page(nin_home, monkeypatch, fake_throughput):
    """The Exercises page, with no background worker started and a fixed device speed (no timing steps)."""
    import ui.exercise_parts
    from nin_core.runs import jobs

    started = []
    monkeypatch.setattr(jobs, "ensure_worker", lambda store: started.append(store))
    monkeypatch.setattr(ui.exercise_parts, "ensure_worker", lambda store: started.append(store))
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/exercises.py").run()
    assert not at.exception, at.exception
    at.started = started
    return at


def open_tab(at: AppTest, number: int) -> None:
    at.session_state["exercise"] = next(t.label for t in at.tabs if t.label.startswith(f"{number} · "))
    at.run()
    assert not at.exception, at.exception


def test_the_page_has_a_section_per_exercise_and_queues_what_is_missing(page, store):
    assert [t.label for t in page.tabs] == [f"{n} · {ex.title}" for n, ex in exs.EXERCISES.items()]
    assert any("The book asks:" in m.value for m in page.markdown)
    assert any("6 variants × 3 seeds = 18 runs" in m.value for m in page.markdown)
    [run] = [b for b in page.button if b.label == "Run the 18 missing runs"]
    run.click().run()
    assert not page.exception, page.exception
    queued = store.list_runs()
    assert len(queued) == 18 and {r.experiment for r in queued} == {exs.exercise(1).name} and page.started
    assert len({r.group for r in queued}) == 6 and {r.config.train.seed for r in queued} == {0, 1, 2}
    assert [b.label for b in page.button if b.key == "exercise-run-1"] == ["All runs done"]
    assert page.button(key="exercise-run-1").disabled


def test_a_quick_look_is_offered_and_said_to_be_one(page, store):
    page.selectbox(key="exercise-size-1").set_value(1).run()
    assert not page.exception, page.exception
    assert any("a quick look" in w.value.lower() for w in page.warning)
    assert any("6 variants × 1 seed = 6 runs" in m.value for m in page.markdown)


def test_the_page_shows_the_runs_table_curves_and_conclusion(page, store):
    ex = exs.exercise(2)
    finals = (0.61, 0.688, 0.70, 0.705)
    for variant, acc in zip([v.name for v in ex.variants], finals, strict=True):
        ended_group(store, ex, variant, [acc, acc + 0.01, acc - 0.01], accs=(acc - 0.1,))
    open_tab(page, 2)
    frame = page.dataframe[0].value
    assert list(frame["variant"][:4]) == [v.name for v in ex.variants] and "the book" in frame["variant"].iloc[4]
    assert frame["test acc"].iloc[0] == "0.610 ± 0.010"
    [said] = [s.value for s in page.success]
    assert said == exs.conclusion(ex, exs.result_frame(ex, store))
    [chart] = page.get("plotly_chart")
    fills = [t for t in json.loads(chart.proto.spec)["data"] if t.get("fill") == "tonexty"]
    assert len(fills) == 4 * 3  # a band for each variant's three curves
    assert page.button(key="exercise-run-2").disabled
    assert [d.label for d in page.download_button] == ["Download the table (CSV)"]


def test_exercise_4_shows_the_class_maps(page, store):
    with_checkpoints(store, exs.exercise(4))
    open_tab(page, 4)
    captions = [c for image in page.image for c in image.captions]
    assert [c.split(":")[0] for c in captions] == ["one step to 10 maps (the chapter)", "no ReLU after the last block"]


def test_runs_from_the_shell_at_another_size_are_shown_at_once(page, store):
    ex = exs.exercise(5)
    small = ex.sized(**SMALL)
    for variant in small.configs():
        ended_run(store, small, variant, 0.5)
    ended_run(store, ex.sized(**SMALL | {"epochs": 2}), ex.reference, 0.6)  # one done at a third size: fewer
    open_tab(page, 5)
    assert page.selectbox(key="exercise-size-5").value == exs.sizes(ex, store.list_runs()).index(SMALL)
    assert any(f"{exs.size_text(SMALL)} at" in m.value and "2 done, 0 queued or running, 0 to run" in m.value
               for m in page.markdown)


def test_exercise_3_measures_once_and_keeps_it(page, store, monkeypatch):
    calls = []
    monkeypatch.setattr(exs, "measure_memory", lambda config, batch, training: calls.append(batch) or 10**8)
    open_tab(page, 3)
    page.button(key="exercise-measure").click().run()
    assert not page.exception, page.exception
    assert calls == [128, 128, CPU.train.batch_size, CPU.train.batch_size]
    assert page.dataframe[0].value["training measured (MB)"].tolist() == ["100", "100"]
    assert "100 MB as measured" in page.success[0].value
    page.run()  # a second visit: what was measured is kept
    assert page.button(key="exercise-measure").disabled and len(calls) == 4


def test_the_runs_page_filters_by_experiment(nin_home, store):
    ex = exs.exercise(5).sized(**SMALL)
    ended_run(store, ex, ex.reference, 0.1)
    store.create_run(TINY, "not an exercise")
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/runs.py").run()
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="runs-experiment").set_value(ex.name).run()
    assert not at.exception and list(at.dataframe[0].value["name"]) == [f"ex 5 · {ex.reference}"]


# --- three seeds a variant: verdicts against the noise between them ----------------------------------------------

def ended_group(store: RunStore, ex, variant: str, finals: list[float | None], **kw) -> list[int]:
    return [ended_run(store, ex, variant, acc, seed=i, **kw) for i, acc in enumerate(finals)]


def test_the_verdicts_come_from_the_groups_and_their_noise(store):
    ex = exs.exercise(2).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.70, 0.71, 0.69])
    ended_group(store, ex, "no 1×1 conv", [0.80, 0.81, 0.79])  # far above the spread: better
    ended_group(store, ex, "one 1×1 conv", [0.69, 0.72, 0.70])  # inside it: within noise
    ended_group(store, ex, "three 1×1 convs", [0.70, 0.72])  # a seed short: no result yet
    frame = exs.result_frame(ex, store)
    rows = frame.set_index("variant")
    assert rows.loc["no 1×1 conv", "test acc"] == pytest.approx(0.80)
    assert rows.loc["no 1×1 conv", "test acc sd"] == pytest.approx(0.01)
    assert rows.loc["no 1×1 conv", "test accs"] == (0.80, 0.81, 0.79) and rows.loc["no 1×1 conv", "runs"] == 3
    assert exs.display_frame(frame).set_index("variant").loc["no 1×1 conv", "test acc"] == "0.800 ± 0.010"
    assert [seed for name, config in exs.missing(ex, store.list_runs()) for seed in [config.train.seed]] == [2]
    said = exs.conclusion(ex, frame)
    assert said.startswith("So far (3 of 4 variants): Against two 1×1 convs (the chapter) (test acc 0.700 ± 0.010 "
                           "(3 runs)"), said
    assert "no 1×1 conv: +0.100 (95 % CI" in said and "): better; parameters −26 %" in said, said
    assert "one 1×1 conv: +0.003 (95 % CI" in said and "): within noise; parameters −13 %" in said, said
    assert ("The best mean test accuracy, beyond the noise of every other variant: no 1×1 conv, 0.800 ± 0.010 "
            "(3 runs).") in said


def test_a_best_inside_the_noise_is_not_called_the_best_alone(store):
    ex = exs.exercise(4).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.60, 0.75, 0.68])
    ended_group(store, ex, "no ReLU after the last block", [0.72, 0.62, 0.70])
    said = exs.conclusion(ex, exs.result_frame(ex, store))
    assert ("No variant stands out beyond the noise between seeds: the highest mean test accuracy, no ReLU after the "
            "last block, 0.680 ± 0.053 (3 runs), is within noise of one step to 10 maps (the chapter).") in said, said


def test_a_group_mixing_ends_says_how_many_runs_went_wrong(store):
    ex = exs.exercise(5).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.30, 0.35])
    ended_run(store, ex, ex.reference, None, status="stalled", train_loss=2.302585, seed=2)
    ended_group(store, ex, "batch norm", [0.75, 0.76, 0.74])
    rows = exs.result_frame(ex, store).set_index("variant")
    assert rows.loc[ex.reference, "status"] == "2 finished · 1 stalled at 2.303"
    assert rows.loc[ex.reference, "test acc"] == pytest.approx(0.325)
    said = exs.conclusion(ex, rows.reset_index())
    assert "test acc 0.325 ± 0.035 (2 runs)" in said, said


def test_a_variant_still_learning_at_the_end_is_named(store):
    ex = exs.exercise(5).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.40, 0.42, 0.41], accs=(0.2, 0.3))  # +0.11 in its last epoch
    ended_group(store, ex, "batch norm", [0.75, 0.76, 0.74], accs=(0.70, 0.745))
    frame = exs.result_frame(ex, store)
    assert frame.set_index("variant").loc[ex.reference, "last epoch"] == pytest.approx(0.11)
    assert ("Still learning at the end (test accuracy up 0.02 or more in the last epoch): no batch norm (the "
            "chapter); a longer run may change the order.") in exs.conclusion(ex, frame)


def test_missing_seeds_are_queued_into_the_variants_group(store):
    ex = exs.exercise(5).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.3, 0.4])
    ids = exs.queue_exercise(store, ex)
    queued = [store.get_run(i) for i in ids]
    assert [(r.name, r.config.train.seed) for r in queued] == [
        (f"ex 5 · {ex.reference} · seed 2", 2), ("ex 5 · batch norm · seed 0", 0), ("ex 5 · batch norm · seed 1", 1),
        ("ex 5 · batch norm · seed 2", 2)]
    assert all(r.config.train.repeats == 1 for r in queued)
    assert len({r.group for r in queued[1:]}) == 1 and queued[0].group != queued[1].group
    assert exs.queue_exercise(store, ex) == []


def test_every_default_size_uses_three_seeds_and_a_quick_look_is_said_to_be_one():
    for ex in (e for e in exs.EXERCISES.values() if e.trains):
        assert ex.size["repeats"] >= 3 and not exs.is_quick_look(ex)
        assert exs.is_quick_look(ex.quick_look) and exs.prepared(ex.quick_look) == ex
        assert exs.sizes(ex, [])[:2] == [ex.size, ex.quick_look.size]

"""The Optuna search: its space from the settings table, each bad parameter one clear line (exit 2, nothing
queued), and real studies on tiny data: a pruner that prunes, a worker killed mid-trial whose trial is failed and
tried again, and two worker processes adding trials to one study through SQLite and through a PostgreSQL server."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nin_core.lab import search
from nin_core.lab.search import Param, SearchSpec, parse_param, spec_issues
from nin_core.lab.searchbench import Curve, replay
from nin_core.network.config import SETTINGS, TINY, ConfigError, RunConfig
from nin_core.network.status import ENDED_BY_TRAINING, RunStatus
from nin_core.runs.store import RunStore

# Every sweepable value validates in it: sgd with momentum lets nesterov be true, as the seed's optimizer does.
BASE = TINY.with_overrides(optimizer="sgd", momentum=0.9, device="cpu")
# Trials of a few seconds: 4,000 images at 28 px. AdamW at 0.003 reaches 18 % in the first epoch, 1e-7 stays at
# chance (10 %); without the last ReLU no class map dies on the way (a stall would end the run at chance too).
SMALL = TINY.with_overrides(train_size=4000, validation_size=500, test_size=None, epochs=2, device="cpu",
                            final_relu=False)
CLI_BASE = ["--preset", "tiny", "--train-size", "1024", "--validation-size", "256", "--test-size", "all",
            "--epochs", "2", "--device", "cpu"]


def test_every_sweepable_setting_gets_a_distribution_optuna_samples_and_the_configuration_validates():
    sweepable = [s.name for s in SETTINGS.values() if s.spec.sweep]
    assert search.searchable() == sweepable and len(sweepable) > 10
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for name in sweepable:
        param = search.default_param(name)
        assert parse_param(param.text) == (param, None), param.text  # written and read back the same
        assert search.param_issues(BASE, param) == [], param.text
        for _ in range(5):
            trial = study.ask({name: param.distribution()})
            value = trial.params[name]
            assert BASE.with_overrides(**{name: value}).validate() == [], (name, value)
            study.tell(trial, 0.5)


@pytest.mark.parametrize("text, expected", [
    ("lr=0.01..0.5:log", Param("lr", 0.01, 0.5, log=True)),
    ("batch_norm", Param("batch_norm", choices=(False, True))),
    ("batch_size=64,128,256", Param("batch_size", choices=(64, 128, 256))),
    ("head", Param("head", choices=("gap", "fc"))),
    ("epochs=2..8", Param("epochs", 2, 8)),
    ("train_size=all,2000", Param("train_size", choices=(None, 2000))),
])
def test_params_as_a_person_writes_them(text, expected):
    assert parse_param(text) == (expected, None)
    assert parse_param(expected.text) == (expected, None)


@pytest.mark.parametrize("text, says", [
    ("lr=0.5..0.01", "lr: the range 0.5..0.01 is reversed"),
    ("lr=0.1..0.1", "lr: the range 0.1..0.1 is empty"),
    ("lr=0..0.5:log", "lr: a log range must stay above 0"),
    ("epochs=0..4:log", "epochs: a log range must stay above 0"),
    ("lr=0.1..0.5:cube", "lr: a range's scale can only be :log"),
    ("speed=1..2", "speed: is not a setting"),
    ("repeats=1..3", "repeats: cannot be searched"),
    ("processes=1,2", "processes: cannot be searched"),
    ("lr", "lr: needs a range"),
    ("head=gap..fc", "head: is not a number: give choices (gap,fc)"),
    ("batch_size=64,big", "batch_size: must be a whole number, got 'big'"),
    ("batch_size=64,64", "batch_size: lists a choice twice"),
])
def test_each_bad_param_is_one_clear_line(text, says):
    param, issue = parse_param(text)
    assert param is None and str(issue).startswith(says), str(issue)


@pytest.mark.parametrize("params, says", [
    (["batch_size=64,128,99999"], "batch_size: 99999 is rejected: train.batch_size: must be between 1 and 8192"),
    (["lr=0.001..200:log"], "lr: 200 is rejected: train.lr: must be in (0, 100]"),
    (["nesterov"], "nesterov: true is rejected: train.nesterov: needs the sgd optimizer with momentum above 0"),
    (["resize=4..28"], "resize: 4 is rejected: arch.resize: resize 4 is too small"),
    (["lr=0.001,0.01", "lr=0.1,0.2"], "lr: is searched twice"),
    ([], "params: name at least one setting"),
])
def test_a_value_the_configuration_rejects_is_named_before_anything_is_queued(params, says):
    spec = SearchSpec("s", tuple(parse_param(p)[0] for p in params), TINY.with_overrides(device="cpu"))
    issues = [str(i) for i in spec_issues(spec)]
    assert any(i.startswith(says) for i in issues), issues


def test_the_grid_needs_values_and_the_budget_a_positive_number():
    spec = SearchSpec("", (parse_param("lr=0.001..0.1")[0],), TINY.with_overrides(device="cpu"), sampler="grid",
                      pruner="fast", trials=0, minutes=-1)
    assert [str(i) for i in spec_issues(spec)] == [
        "study: needs a name", "pruner: must be one of asha, median, hyperband, none, got 'fast'",
        "trials: must be at least 1, got 0", "minutes: must be above 0, got -1",
        "lr: the grid sampler needs values: give choices (a,b,c)"]


def test_a_search_judges_on_a_validation_split_never_the_test_set():
    ready, note = search.validation_ready(TINY)
    assert ready.train.validation_size == 400 and ready.train.test_size is None  # a tenth of its 4,000 images
    assert note and "400 validation images" in note and ready.validate() == []
    assert search.validation_ready(SMALL) == (SMALL, None)


def test_the_same_study_name_continues_and_another_space_is_one_issue(store):
    lr = parse_param("lr=0.001..0.01:log")[0]
    spec = SearchSpec("s", (lr,), SMALL)
    first = search.open_study(spec, store)
    first.enqueue_trial({"lr": 0.002})
    assert len(search.open_study(spec, store).trials) == 1  # the same study, from its file beside the run store
    assert (store.home / search.STUDY_DB).exists()
    with pytest.raises(ConfigError, match="'s' exists with another space \\(lr=0.001..0.01:log\\)"):
        search.open_study(SearchSpec("s", (parse_param("batch_norm")[0],), SMALL), store)
    with pytest.raises(ConfigError, match="exists with another base configuration"):
        search.open_study(SearchSpec("s", (lr,), SMALL.with_overrides(epochs=3)), store)
    stored = search.stored_spec("s", search.default_storage(store))
    assert stored.params == (lr,) and stored.base == SMALL


def test_an_unreachable_storage_is_one_line(store):
    spec = SearchSpec("s", (parse_param("batch_norm")[0],), SMALL, storage=f"postgresql://x@127.0.0.1:{_free_port()}/x")
    with pytest.raises(ConfigError, match="^storage: cannot be used: .*refused"):
        search.open_study(spec, store)


@pytest.mark.parametrize("args, says", [
    (["--param", "lr=0.5..0.01", "--param", "zz"], "error: lr: the range 0.5..0.01 is reversed: write the low end "
                                                    "first; zz: is not a setting"),
    (["--param", "batch_size=64,99999"], "error: batch_size: 99999 is rejected"),
    (["--param", "lr=0.001..0.01", "--sampler", "grid"], "error: lr: the grid sampler needs values"),
    (["--param", "batch_norm", "--trials", "0"], "error: trials: must be at least 1, got 0"),
    ([], "error: study: no study 's'"),
])
def test_the_cli_says_bad_input_in_one_line_exits_2_and_queues_nothing(store, capsys, args, says):
    from nin_core.cli import main

    assert main(["search", "--study", "s", *args, *CLI_BASE]) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1, err
    assert store.list_runs() == []


# --- real studies ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_pruner_stops_a_hopeless_trial_and_the_store_says_pruned(store, fixed_threads):
    # The chapter's head (a last ReLU): a trial at 1e-3 that learns first, then one at 3e-3 that stays at chance
    # level (without the ReLU the trainer itself would end such runs after their first epoch, as stalled). In
    # float32 on every host: in bf16 the 3e-3 trial diverged in its first epoch, a result that is not pruned.
    spec = SearchSpec("prune", (parse_param("lr=0.001,0.003")[0],),
                      SMALL.with_overrides(epochs=3, final_relu=True, precision="float32"),
                      sampler="random", trials=2)
    study = search.open_study(spec, store)
    study.enqueue_trial({"lr": 0.001})
    study.enqueue_trial({"lr": 0.003})
    lines: list[str] = []
    study = search.run_search(spec, store, say=lines.append)
    good, hopeless = study.trials
    assert good.state == TrialState.COMPLETE and list(good.intermediate_values) == [1, 2, 3]
    # not judged on its first epoch (NiN's slow start), pruned at the first it is judged on
    assert hopeless.state == TrialState.PRUNED and list(hopeless.intermediate_values) == [1, 2]
    runs = {r.id: r for r in store.list_runs()}
    assert len(runs) == 2 and runs[good.user_attrs["run_id"]].status == RunStatus.FINISHED
    pruned = runs[hopeless.user_attrs["run_id"]]
    assert pruned.status == RunStatus.PRUNED and pruned.message.startswith("pruned after epoch 2")
    assert pruned.config.train.lr == 0.003 and pruned.config.train.validation_size == 500
    assert max(p.epoch for p in store.metrics(pruned.id)) < 3  # its curve is cut where it was pruned
    said = f"trial 1 pruned after epoch 2 (validation accuracy {hopeless.intermediate_values[2]:.4f})"
    assert any(line.startswith(said) for line in lines), lines
    assert json.loads(search.best_json(study))["train"]["lr"] == 0.001


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_a_trial_the_next_worker_fails_and_tries_again(store, processes):
    spec = SearchSpec("kill", (parse_param("lr=0.002..0.004")[0],), SMALL.with_overrides(epochs=4), trials=1,
                      pruner="none")
    worker = processes.start([sys.executable, "-m", "nin_core", "search", "--study", "kill", "--param",
                              "lr=0.002..0.004", "--pruner", "none", "--trials", "1",
                              "--config", str(_config_file(store.home, spec.base))],
                             env=os.environ | {"NIN_HOME": str(store.home)}, stderr=subprocess.PIPE)
    _wait_for(lambda: any(r.status == RunStatus.RUNNING and r.progress.batch > 0 for r in store.list_runs()),
              "the worker's trial to train", worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    storage = search.open_storage(search.default_storage(store), grace_s=2)
    study = optuna.load_study(study_name="kill", storage=storage)
    (lost,) = study.trials
    assert lost.state == TrialState.RUNNING  # as the killed worker left it
    # The next worker fails a trial once its heartbeat is older than the grace period: wait for that, not a time.
    _wait_for(lambda: storage._get_stale_trial_ids(study._study_id), "the lost trial's heartbeat to go stale")
    study = search.run_search(spec, store, grace_s=2)  # the next worker; a short grace, so the test waits 2 s
    lost, retried = study.trials
    assert lost.state == TrialState.FAIL and retried.state == TrialState.COMPLETE
    assert retried.system_attrs["failed_trial"] == lost.number and retried.params == lost.params
    runs = {r.id: r for r in store.list_runs()}
    assert len(runs) == 2 and runs[lost.user_attrs["run_id"]].status == RunStatus.INTERRUPTED
    assert runs[retried.user_attrs["run_id"]].status == RunStatus.FINISHED


@pytest.mark.slow
def test_two_workers_add_trials_to_one_study_through_the_default_sqlite_file(nin_home, processes):
    args = ["--study", "two", "--param", "lr=0.001..0.005:log", "--param", "batch_norm", "--trials", "2",
            "--pruner", "none"]  # every trial completes: each worker prints a best configuration
    workers = [processes.start([sys.executable, "-m", "nin_core", "search", *args, *CLI_BASE],
                               env=os.environ | {"NIN_HOME": str(nin_home)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    _finished(workers)
    study = optuna.load_study(study_name="two", storage=search.default_storage(RunStore(nin_home)))
    _each_trial_trained_once(study, [RunStore(nin_home)], 4)


@pytest.mark.slow
def test_two_workers_on_two_machines_add_trials_to_one_study_through_postgresql(tmp_path, processes, postgres):
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]  # a run store each, as two machines have
    args = ["--study", "pg", "--param", "lr=0.001..0.005:log", "--param", "batch_norm", "--trials", "2",
            "--pruner", "none", "--storage", postgres]
    workers = [processes.start([sys.executable, "-m", "nin_core", "search", *args, *CLI_BASE],
                               env=os.environ | {"NIN_HOME": str(home), "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for home in homes]
    _finished(workers)
    study = optuna.load_study(study_name="pg", storage=search.open_storage(postgres))
    _each_trial_trained_once(study, [RunStore(h) for h in homes], 4)
    for store in (RunStore(h) for h in homes):  # both machines trained
        assert len(store.list_runs()) == 2


def _each_trial_trained_once(study: optuna.Study, stores, count: int) -> None:
    """``count`` trials, each ended with a value and trained as exactly one run, whose configuration it is."""
    assert len(study.trials) == count and {t.state for t in study.trials} <= {TrialState.COMPLETE,
                                                                                TrialState.PRUNED}
    runs = [(store, r) for store in stores for r in store.list_runs()]
    assert len(runs) == count
    by_name = {r.name: r for _, r in runs}
    assert sorted(by_name) == sorted(f"search {study.study_name} #{t.number}" for t in study.trials)
    for t in study.trials:
        run = by_name[f"search {study.study_name} #{t.number}"]
        assert run.config.train.lr == t.params["lr"] and run.config.arch.batch_norm == t.params["batch_norm"]
        assert run.status in ENDED_BY_TRAINING | {RunStatus.PRUNED}  # a stalled trial is a result too


def _finished(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
        assert json.loads(out)["train"]["validation_size"] == 256  # the best configuration, as JSON


def _config_file(home: Path, config: RunConfig) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "base.json"
    path.write_text(config.to_json())
    return path


def _wait_for(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker ended before {what}: {proc.stderr.read() if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres(processes):
    """A PostgreSQL server of Debian's package in a temporary folder on 127.0.0.1 and a free port, as its own
    user when the tests run as root (the server refuses root); stopped by its pid at the end. Yields its URL."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        pytest.skip("Debian's postgresql package is not installed (scripts/system-packages.sh --browser)")
    folder = Path(tempfile.mkdtemp(prefix="nin-pg-"))  # not under pytest's root-only tmp folder
    as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    try:
        subprocess.run([*as_user, f"{bins[-1]}/initdb", "-D", str(folder / "data"), "-U", "nin", "--auth=trust"],
                       check=True, capture_output=True)
        server = processes.start([*as_user, f"{bins[-1]}/postgres", "-D", str(folder / "data"), "-h", "127.0.0.1",
                                  "-p", str(port), "-k", str(folder)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        _wait_for(lambda: _accepts(port), "PostgreSQL to accept connections", server, timeout=60)
        yield f"postgresql://nin@127.0.0.1:{port}/postgres"
        server.send_signal(signal.SIGINT)  # its fast shutdown, by its own pid
        server.wait(timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _accepts(port: int) -> bool:
    import psycopg

    try:
        psycopg.connect(f"postgresql://nin@127.0.0.1:{port}/postgres", connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def test_a_study_asked_to_try_the_base_first_starts_with_the_base_values_in_its_space(store):
    base = TINY.with_overrides(lr=0.02, batch_size=64)
    params = tuple(parse_param(text)[0] for text in ("lr=0.01..0.5:log", "batch_size=128,256", "batch_norm"))
    spec = SearchSpec("first", params, search.validation_ready(base)[0], base_first=True)
    [first] = search.open_study(spec, store).trials
    # batch 64 is not among the choices: sampled, not forced
    assert first.state == TrialState.WAITING
    assert first.system_attrs["fixed_params"] == {"lr": 0.02, "batch_norm": TINY.arch.batch_norm}
    assert len(search.open_study(spec, store).trials) == 1  # another worker opening it adds nothing
    assert "--base-first" in search.worker_args(spec, Path("base.json"))
    assert not search.open_study(SearchSpec("plain", params, spec.base), store).trials


def test_the_page_draws_the_figures_again_exactly_when_a_trial_started_reported_or_ended():
    study = optuna.create_study(direction="maximize")
    seen = [search.version(study)]
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.5)})
    seen.append(search.version(study))
    trial.report(0.5, 1)
    seen.append(search.version(study))
    assert search.version(study) == seen[-1]  # nothing new: the same figures
    study.tell(trial, 0.6)
    seen.append(search.version(study))
    assert len(set(seen)) == len(seen)


def test_pruning_waits_out_nins_slow_start():
    """A trial at chance after its first epoch that ends best survives successive halving in every order: the
    pruner judges from epoch 2 on. (Judged from epoch 1 it was pruned whenever a quick starter came before it.)"""
    slow = Curve({e: min(0.9, 0.1 + 0.2 * (e - 1)) for e in range(1, 9)}, 0.9, 1.0)
    quick = Curve({e: 0.25 + 0.01 * e for e in range(1, 9)}, 0.33, 1.0)
    flat = Curve({e: 0.1 for e in range(1, 9)}, 0.1, 1.0)
    result = replay([slow, quick, flat, flat, quick], "asha", orders=50)
    assert result["kept"] == 1.0
    assert result["left"] < 0.9  # the flat trials were cut short


def test_a_worker_that_meets_another_creating_the_tables_tries_again(tmp_path, monkeypatch):
    """Two workers on a fresh SQLite file: the second's CREATE TABLE meets the first's (CI saw "table
    alembic_version already exists"). That worker tries again and finds the tables; other errors are said at once."""
    import sqlalchemy.exc

    real, calls = search.RDBStorage, []

    def racing(url, **kwargs):
        calls.append(url)
        if len(calls) == 1:  # what SQLite raised when the other worker created the table first
            raise sqlalchemy.exc.OperationalError("CREATE TABLE alembic_version", {},
                                                  Exception("table alembic_version already exists"))
        return real(url, **kwargs)

    monkeypatch.setattr(search, "RDBStorage", racing)
    url = f"sqlite:///{tmp_path / 'search.db'}"
    assert isinstance(search.open_storage(url), real) and len(calls) == 2
    calls.clear()
    with pytest.raises(ConfigError, match="storage: cannot be used"):
        search.open_storage("sqlite:////nonexistent-folder/x/search.db")

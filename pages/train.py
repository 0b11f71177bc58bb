"""Playground & training: pick a preset, change any setting of NiN and its training, see what it makes and how
long it will take, then train it (or a small sweep) in the background and watch it live."""

import streamlit as st

from nin_core.config import INITS, MAX_RESIZE, OPTIMIZERS, PRECISIONS
from nin_core.devices import available_devices, gpu_count
from nin_core.estimate import estimate_run, human_duration, throughput
from nin_core.jobs import ensure_worker
from nin_core.shapes import shape_table
from nin_core.sweep import SWEEPABLE, pick_live_run, plan_sweep, queue_sweep, sweep_label
from nin_core.urlconfig import describe
from pages.components import (URL_ISSUES, config_file_buttons, config_issues, device_choice_label, get_config,
                              get_preset, get_store, inside_app, live_run, preset_picker, problem_markdown,
                              SettingsForm, shape_summary, status_markdown, update_config)

inside_app()

WATCH = "nin.watch"  # the run this session launched last
store = get_store()
get_config()
st.title("Network in Network playground")
st.caption("d2l 7.3 on Fashion-MNIST: every setting of the network and its training; runs train in the "
           "background and go on when you leave the page.")
for issue in st.session_state.pop(URL_ISSUES, []):
    st.warning(f"The link's `{issue.field}` was not used: {issue.message}", icon=":material/link_off:")
preset_picker()


form = SettingsForm()
settings, side = st.columns([3, 1.2], gap="large")
with settings:
    with st.container(border=True):
        st.markdown("**Architecture**")
        table_col, arch_col = st.columns([3, 2])
        with table_col:
            form.blocks("NiN blocks")
        with arch_col:
            a, b = st.columns(2)
            with a:
                form.number("pool_kernel", "Pool kernel", min_value=1, max_value=15, step=1)
                form.number("dropout", "Dropout", min_value=0.0, max_value=1.0, step=0.05)
                form.number("resize", "Resize (px)", min_value=1, max_value=MAX_RESIZE, step=1,
                            help="images are resized to N×N before the network")
            with b:
                form.number("pool_stride", "Pool stride", min_value=1, max_value=15, step=1)
                form.number("in_channels", "Input channels", min_value=1, max_value=4, step=1)
                form.number("num_classes", "Classes", min_value=2, max_value=4096, step=1)
    with st.container(border=True):
        st.markdown("**Training**")
        a, b, c = st.columns(3)
        with a:
            form.number("lr", "Learning rate", min_value=0.0, max_value=100.0, step=0.01)
            form.number("momentum", "Momentum", min_value=0.0, max_value=1.0, step=0.1)
            form.choice("init", "Initialisation", list(INITS))
        with b:
            form.number("epochs", "Epochs", min_value=1, max_value=1000, step=1)
            form.choice("optimizer", "Optimizer", list(OPTIMIZERS))
            form.number("seed", "Random seed", min_value=0, max_value=2**31 - 1, step=1)
        with c:
            form.number("batch_size", "Batch size", min_value=1, max_value=8192, step=1)
            form.number("weight_decay", "Weight decay", min_value=0.0, max_value=1.0, step=0.0001)
            form.choice("precision", "Precision", list(PRECISIONS), help="auto: bf16 where the device computes it natively (a recent GPU, or a CPU with AVX-512 BF16 or AMX); float32: exactly the seed")
    with st.container(border=True):
        st.markdown("**Data and device**")
        a, b, c, d = st.columns(4)
        with a:
            form.number("train_size", "Training images", optional=True, min_value=1, step=1000,
                        placeholder="all 60,000", help="a seeded random subset; empty = all")
        with b:
            form.number("test_size", "Test images", optional=True, min_value=1, step=1000,
                        placeholder="all 10,000", help="empty = all")
        with c:
            form.text("data_dir", "Data folder", placeholder="found automatically")
        with d:
            form.choice("device", "Device", available_devices(), format_func=device_choice_label)
            if gpu_count() > 1:
                form.number("processes", "GPUs", min_value=1, max_value=gpu_count(), step=1,
                            help="more than one: DistributedDataParallel, one process per GPU, through torchrun")

config = form.config()
update_config(config)
issues = config_issues(config)
other_issues = form.show_issues(issues)
try:
    table = shape_table(config.arch)
except Exception:  # noqa: BLE001 - blocks too broken to build: their fields already say why
    table = None

with side:
    st.markdown("**What this makes**")
    shape_summary(table)
    estimate = None
    if not issues and table and table.ok:
        with st.spinner("Timing a few training steps on this device…"):
            rate = throughput(config.train.device, config.train.precision, home=store.home)
        estimate = estimate_run(config, rate, mult_adds=table.total_mult_adds)
        st.metric("Estimated time", estimate.text, help=f"on {estimate.device}, from a short measurement")
        if estimate.warning:
            st.warning(estimate.warning, icon=":material/hourglass_top:")
    for issue in other_issues:
        st.error(f"`{issue.field}`: {issue.message}")
    if issues:
        st.caption(f":red[Fix {len(issues)} setting{'s' if len(issues) > 1 else ''} to train.]")
    if st.button("Train", type="primary", icon=":material/play_arrow:", disabled=bool(issues), width="stretch"):
        st.session_state[WATCH] = store.create_run(config, describe(config, get_preset()))
        ensure_worker(store)
        st.toast(f"Run {st.session_state[WATCH]} queued: it trains in the background.")
    config_file_buttons(config)

with st.expander("Sweep: queue one run per combination of values", icon=":material/grid_view:"):
    axes = []
    for i, col in enumerate(st.columns(2)):
        setting = col.selectbox(f"Setting {i + 1}", ["", *SWEEPABLE], key=f"sweep.setting{i}",
                                format_func=lambda s: f"{SWEEPABLE[s]} ({s})" if s else "—")
        values = col.text_input(f"Values {i + 1}", key=f"sweep.values{i}", placeholder="e.g. 0.1, 0.05, 0.01")
        axes.append((setting, values))
    if any(s for s, _ in axes):
        plan = plan_sweep(config, axes)
        for issue in plan.issues:
            st.markdown(problem_markdown(f"{issue.field.removeprefix('sweep.')}: {issue.message}"))
        if plan.ok and estimate is not None:
            total = sum(estimate_run(r.config, rate).seconds for r in plan.runs)
            st.caption(f"{len(plan.runs)} runs, one after another: {human_duration(total)} in all on {rate.device}.")
        count = f"{len(plan.runs)} run{'s' if len(plan.runs) != 1 else ''}" if plan.runs else "the runs"
        if st.button(f"Queue {count}", key="sweep.queue", icon=":material/queue:",
                     disabled=not plan.ok or bool(issues)):
            ids = queue_sweep(store, plan, sweep_label(plan))
            st.session_state[WATCH] = ids[0]
            ensure_worker(store)
            st.toast(f"Queued runs {ids[0]}–{ids[-1]}; the Runs page compares them.")

st.subheader("Training")
runs = store.list_runs()
run = pick_live_run(runs, st.session_state.get(WATCH))
if run is None:
    st.info("No runs yet. Press **Train**: the run trains in a background process, so it goes on when you "
            "change a setting, switch page or close the tab.", icon=":material/info:")
else:
    if run.active:
        st.session_state[WATCH] = run.id
    live_run(run.id)
    waiting = [r for r in runs if r.active and r.id != run.id]
    if waiting:
        st.caption("Also in the queue: " + ", ".join(f"run {r.id} *{r.name}* {status_markdown(r.status)}"
                                                     for r in sorted(waiting, key=lambda r: r.id)))

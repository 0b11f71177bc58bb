"""Playground & training: pick a preset, change any setting of NiN and its training, see what it makes and how
long it will take, then train it (or a small sweep) in the background and watch it live."""

import streamlit as st

from nin_core.lab.estimate import estimate_run, throughput
from nin_core.lab.export import export_script
from nin_core.network.durations import format_duration
from nin_core.network.shapes import ShapeTable, shape_table
from nin_core.runs.groups import queue_group
from nin_core.runs.jobs import ensure_worker
from nin_core.runs.sweep import SWEEPABLE, pick_live_run, plan_sweep, queue_sweep, sweep_label
from nin_core.runs.urlconfig import describe
from ui.live_run import launched_here, live_run, panel_note, status_markdown
from ui.settings_form import SettingsForm, problem_markdown, shape_summary
from ui.state import (
    URL_ISSUES,
    changes_caption,
    config_file_buttons,
    config_issues,
    get_config,
    get_preset,
    get_store,
    inside_app,
    preset_picker,
    update_config,
)
from ui.text import as_text

inside_app()

WATCH = "nin.watch"  # the run this session launched last
SCROLL = "nin.scroll_to_run"  # Train was pressed: bring the run's panel, far below the button, into view once
store = get_store()
get_config()
st.title("Network in Network playground")
st.caption("d2l 7.3 on Fashion-MNIST: every setting of the network and its training; runs train in the "
           "background and go on when you leave the page.")
for issue in st.session_state.pop(URL_ISSUES, []):
    st.warning(f"The link's `{issue.field}` was not used: {issue.message}", icon=":material/link_off:")
preset_picker()
changes = st.container()  # filled once the fields below say what the configuration now is

settings, side = st.columns([3, 1.1], gap="large")
with settings:
    form = SettingsForm()
    config = form.render()
update_config(config)
with changes:
    changes_caption(config)
issues = config_issues(config)
other_issues = form.show_issues(issues)
table: ShapeTable | None
try:
    table = shape_table(config.arch)
except Exception:  # noqa: BLE001 - blocks too broken to build: their fields already say why
    table = None

with side, st.container(border=True):
    st.markdown("**What this makes**")
    shape_summary(table)
    estimate = None
    if not issues and table and table.ok:
        with st.spinner("Timing a few training steps on this device…"):
            rate = throughput(config.train.device, config.train.precision, home=store.home)
            estimate = estimate_run(config, rate, mult_adds=table.total_mult_adds)  # may time this one's steps
        st.metric("Estimated time", estimate.text, help=f"on {estimate.device}, from a short measurement")
        if estimate.warning:
            st.warning(estimate.warning, icon=":material/hourglass_top:")
    for issue in other_issues:
        st.error(f"`{issue.field}`: {issue.message}")
    if issues:
        st.caption(f":red[Fix {len(issues)} setting{'s' if len(issues) > 1 else ''} to train.]")
    if st.button("Train", type="primary", icon=":material/play_arrow:", disabled=bool(issues), width="stretch"):
        ids = queue_group(store, config, describe(config, get_preset()))
        st.session_state[WATCH] = ids[0]
        launched_here(*ids)
        ensure_worker(store)
        st.toast(f"Run {ids[0]} queued: it trains in the background; follow it below." if len(ids) == 1 else
                 f"Runs {ids[0]}–{ids[-1]} queued, one per seed: they train one after another; follow them below "
                 "and compare them on Runs.")
        st.session_state[SCROLL] = True
    pointer = st.empty()  # where the run in progress is, once it is known
    config_file_buttons(config)

with st.expander("Show the code: this configuration as a standalone PyTorch script", icon=":material/code:"):
    if issues:
        st.caption("Fix the settings above first: the script is written for a configuration that trains.")
    else:
        script = export_script(config)
        st.download_button("Download nin.py", script, file_name="nin.py", mime="text/x-python", on_click="ignore",
                           icon=":material/download:")
        st.code(script, language="python", line_numbers=True)

with st.expander("Sweep: queue one run per combination of values", icon=":material/grid_view:"):
    axes = []
    for i, col in enumerate(st.columns(2)):
        setting = col.selectbox(f"Setting {i + 1}", ["", *SWEEPABLE], key=f"sweep.setting{i}",
                                format_func=lambda s: f"{SWEEPABLE[s]} ({s})" if s else "—")
        values = col.text_input(f"Values {i + 1}", key=f"sweep.values{i}", placeholder="e.g. 0.1, 0.05, 0.01")
        axes.append((setting, values))
    if any(s for s, _ in axes):
        plan = plan_sweep(config, axes, describe(config, get_preset()))
        for issue in plan.issues:
            st.markdown(problem_markdown(f"{issue.field.removeprefix('sweep.')}: {issue.message}"))
        if plan.ok and estimate is not None:
            total = sum(estimate_run(r.config, rate).seconds for r in plan.runs)
            st.caption(f"{plan.trained} runs, one after another: {format_duration(total, about=True)} in all on "
                       f"{rate.device}.")
        count = f"{plan.trained} run{'s' if plan.trained != 1 else ''}" if plan.runs else "the runs"
        if st.button(f"Queue {count}", key="sweep.queue", icon=":material/queue:",
                     disabled=not plan.ok or bool(issues)):
            ids = queue_sweep(store, plan, sweep_label(plan))
            st.session_state[WATCH] = ids[0]
            launched_here(*ids)
            ensure_worker(store)
            st.toast(f"Queued runs {ids[0]}–{ids[-1]}; the Runs page compares them.")

st.subheader("Training", anchor="training")
runs = store.list_runs()
run = pick_live_run(runs, st.session_state.get(WATCH))
if run is None:
    st.info("No runs yet. Press **Train**: the run trains in a background process, so it goes on when you "
            "change a setting, switch page or close the tab.", icon=":material/info:")
else:
    if run.active:
        st.session_state[WATCH] = run.id
    if note := panel_note(run):
        st.info(note, icon=":material/swap_horiz:")
    if run.active:
        pointer.caption(f":material/arrow_downward: Run {run.id} is {run.status}: [follow it below](#training)")
    live_run(run.id)
    if st.session_state.pop(SCROLL, False):
        st.html("<script>document.getElementById('training')?.scrollIntoView({behavior: 'smooth'})</script>",
                unsafe_allow_javascript=True)
    waiting = [r for r in runs if r.active and r.id != run.id]
    if waiting:
        st.caption("Also in the queue: " + ", ".join(f"run {r.id} *{as_text(r.name)}* {status_markdown(r.status)}"
                                                     for r in sorted(waiting, key=lambda r: r.id)))

"""Playground & training: pick a preset, change any setting of NiN and its training, see what it makes and how
long it will take, then train it (or a small sweep) in the background and watch it live."""

import streamlit as st

from nin_core.i18n import _, format_in_language, ngettext
from nin_core.lab.estimate import estimate_run, throughput
from nin_core.lab.export import export_script
from nin_core.network.durations import format_duration
from nin_core.network.hints import shown_message
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
    translated_choice,
    update_config,
)
from ui.text import as_text

inside_app()


def sweep_choice(setting: str) -> str:
    """A setting in the sweep's picker: its label, then its key as links and the CLI write it."""
    return _("{label} ({key})").format(label=_(SWEEPABLE[setting]), key=setting) if setting else "—"


WATCH = "nin.watch"  # the run this session launched last
SCROLL = "nin.scroll_to_run"  # Train was pressed: bring the run's panel, far below the button, into view once
store = get_store()
get_config()
st.title(_("Network in Network playground"))
st.caption(_("d2l 7.3 on Fashion-MNIST: every setting of the network and its training; runs train in the "
             "background and go on when you leave the page."))
for issue in st.session_state.pop(URL_ISSUES, []):
    st.warning(_("The link's `{field}` was not used: {message}").format(field=issue.field, message=issue.message),
               icon=":material/link_off:")
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
    st.markdown("**" + _("What this makes") + "**")
    shape_summary(table)
    estimate = None
    if not issues and table and table.ok:
        with st.spinner(_("Timing a few training steps on this device…")):
            rate = throughput(config.train.device, config.train.precision, home=store.home)
            estimate = estimate_run(config, rate, mult_adds=table.total_mult_adds,  # may time its steps
                                    home=store.home)
        st.metric(_("Estimated time"), estimate.text,
                  help=_("on {device}, from a short measurement").format(device=estimate.device_text))
        if estimate.warning:
            st.warning(estimate.warning, icon=":material/hourglass_top:")
    for issue in other_issues:
        st.error(f"`{issue.field}`: {issue.message}")
    if issues:
        st.caption(":red[" + ngettext("Fix {count} setting to train.", "Fix {count} settings to train.",
                                      len(issues)).format(count=len(issues)) + "]")
    if st.button(_("Train"), type="primary", icon=":material/play_arrow:", disabled=bool(issues), width="stretch"):
        ids = queue_group(store, config, describe(config, get_preset()))
        st.session_state[WATCH] = ids[0]
        launched_here(*ids)
        ensure_worker(store)
        st.toast(_("Run {id} queued: it trains in the background; follow it below.").format(id=ids[0])
                 if len(ids) == 1 else
                 _("Runs {first}–{last} queued, one per seed: they train one after another; follow them below "
                   "and compare them on Runs.").format(first=ids[0], last=ids[-1]))
        st.session_state[SCROLL] = True
    pointer = st.empty()  # where the run in progress is, once it is known
    config_file_buttons(config)

with st.expander(_("Show the code: this configuration as a standalone PyTorch script"), icon=":material/code:",
                 key="code.expander"):
    if issues:
        st.caption(_("Fix the settings above first: the script is written for a configuration that trains."))
    else:
        script = export_script(config)
        st.download_button(_("Download nin.py"), script, file_name="nin.py", mime="text/x-python", on_click="ignore",
                           icon=":material/download:")
        st.code(script, language="python", line_numbers=True)

with st.expander(_("Sweep: queue one run per combination of values"), icon=":material/grid_view:",
                 key="sweep.expander"):  # a key: it stays open when the language changes
    axes = []
    for i, col in enumerate(st.columns(2)):
        setting = col.selectbox(_("Setting {n}").format(n=i + 1), ["", *SWEEPABLE],
                                key=translated_choice(f"sweep.setting{i}"),
                                format_func=format_in_language(sweep_choice))
        values = col.text_input(_("Values {n}").format(n=i + 1), key=f"sweep.values{i}",
                                placeholder=_("e.g. 0.1, 0.05, 0.01"))
        axes.append((setting, values))
    if any(s for s, _values in axes):
        plan = plan_sweep(config, axes, describe(config, get_preset()))
        for issue in plan.issues:  # one about a setting names its key (sweep.lr), one about the whole sweep not
            named = issue.field.removeprefix("sweep.")
            st.markdown(problem_markdown(issue.message if issue.field == "sweep" else f"`{named}`: {issue.message}"))
        if plan.ok and estimate is not None:
            total = sum(estimate_run(r.config, rate, home=store.home).seconds for r in plan.runs)
            st.caption(ngettext("{count} run, one after another: {time} in all on {device}.",
                                "{count} runs, one after another: {time} in all on {device}.", plan.trained).format(
                count=plan.trained, time=format_duration(total, about=True),
                device=shown_message(rate.device) or rate.device))
        queue = (ngettext("Queue {count} run", "Queue {count} runs", plan.trained).format(count=plan.trained)
                 if plan.runs else _("Queue the runs"))
        if st.button(queue, key="sweep.queue", icon=":material/queue:",
                     disabled=not plan.ok or bool(issues)):
            ids = queue_sweep(store, plan, sweep_label(plan))
            st.session_state[WATCH] = ids[0]
            launched_here(*ids)
            ensure_worker(store)
            st.toast(_("Queued runs {first}–{last}; the Runs page compares them.").format(first=ids[0], last=ids[-1]))

st.subheader(_("Training"), anchor="training")
runs = store.list_runs()
run = pick_live_run(runs, st.session_state.get(WATCH))
if run is None:
    st.info(_("No runs yet. Press **Train**: the run trains in a background process, so it goes on when you "
              "change a setting, switch page or close the tab."), icon=":material/info:")
else:
    if run.active:
        st.session_state[WATCH] = run.id
    if note := panel_note(run):
        st.info(note, icon=":material/swap_horiz:")
    if run.active:
        pointer.caption(":material/arrow_downward: " + _("Run {id} is {status}: [follow it below](#training)").format(
            id=run.id, status=run.status.label))
    live_run(run.id)
    if st.session_state.pop(SCROLL, False):
        st.html("<script>document.getElementById('training')?.scrollIntoView({behavior: 'smooth'})</script>",
                unsafe_allow_javascript=True)
    waiting = [r for r in runs if r.active and r.id != run.id]
    if waiting:
        st.caption(_("Also in the queue: {runs}").format(runs=_(", ").join(
            _("run {id} *{name}* {status}").format(id=r.id, name=as_text(r.name), status=status_markdown(r.status))
            for r in sorted(waiting, key=lambda r: r.id))))

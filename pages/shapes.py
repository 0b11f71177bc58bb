"""Shapes: what each layer of the current configuration makes of an input, and where the cost goes."""

from dataclasses import replace

import streamlit as st

from nin_core.i18n import _, format_count, ngettext
from nin_core.network.charts import shape_cost_figure, shape_styler
from nin_core.network.config import MAX_RESIZE, PRECISIONS, SETTINGS
from nin_core.network.memory import format_bytes, memory_estimate, resolve_precision
from nin_core.network.shapes import shape_table
from ui.state import get_config, inside_app

inside_app()

config = get_config()
st.title(_("Shapes"))
st.caption(_("Each layer's output for one image of the current configuration (set on *Playground & training*). "
             "For the seed configuration at 224 px these are exactly the shapes the chapter prints."))


def within(value, low: int, high: int, default: int) -> int:
    """A configuration's number as a field's start: a value from a link may be out of range or not a number."""
    return min(max(value, low), high) if isinstance(value, int) else default


columns = st.columns(3)
size = columns[0].number_input(_("Input size (px)"), min_value=1, max_value=MAX_RESIZE, step=1,
                               value=within(config.arch.resize, 1, MAX_RESIZE, 224),
                               help=_("Defaults to the configuration's resize; try others to see where the network "
                                      "breaks."))
batch_spec = SETTINGS["batch_size"].spec
assert batch_spec.low is not None and batch_spec.high is not None  # the batch size declares both bounds
batch_low, batch_high = int(batch_spec.low), int(batch_spec.high)
batch = columns[1].number_input(_(batch_spec.label), min_value=batch_low, max_value=batch_high, step=1,
                                value=within(config.train.batch_size, batch_low, batch_high, 128),
                                help=_("For the memory columns and totals; defaults to the configuration's."))
precision = columns[2].selectbox(
    _(SETTINGS["precision"].spec.label), PRECISIONS,
    index=PRECISIONS.index(config.train.precision) if config.train.precision in PRECISIONS else 0,
    format_func=lambda p: f"auto → {resolve_precision(config, p)}" if p == "auto" else p,
    help=_("What the layers compute in: bf16 autocast keeps activations in half the bytes. Defaults to the "
           "configuration's."))
# Problems with the network itself (the size is this page's question): the table may still show, or may not build.
issues = [str(i) for i in config.validate() if i.field.startswith("arch.") and i.field != "arch.resize"]
try:
    table = shape_table(config.arch, int(size))
except Exception as e:  # noqa: BLE001 - a configuration the layers cannot even be built from
    st.error(_("This configuration cannot be built: {problems}").format(problems="; ".join(issues or [str(e)])))
    st.stop()
if issues:
    st.warning(_("This configuration will not train as it stands: {problems}").format(problems="; ".join(issues)))

# None where the input fails at a layer.
memory = memory_estimate(config.with_overrides(resize=int(size)), int(batch), precision) if table.ok else None
if memory:
    table = replace(table, memory=memory)
    st.caption(_("**activation memory**: what each layer keeps for the backward pass over a batch of {batch} in "
                 "{precision}.").format(batch=batch, precision=memory.precision))
st.dataframe(shape_styler(table), hide_index=True, placeholder="—")

if memory:
    totals = st.columns(3)
    totals[0].metric(_("Parameters"), format_count(table.total_params))
    totals[1].metric(_("Multiply-adds per image"), format_count(table.total_mult_adds))
    totals[2].metric(_("Output"), str(list(table.output_shape)) if table.output_shape else "—")
    step = _(", ").join(f"{_(name)} {format_bytes(n)}" for name, n in memory.step_parts().items())
    totals = st.columns(3)
    totals[0].metric(_("Training step"), format_bytes(memory.train_bytes), help=step)
    totals[1].metric(_("Inference, one image"), format_bytes(memory.inference_image_bytes),
                     help=_("the parameters and the largest input and output of one layer"))
    totals[2].metric(ngettext("Inference, {count} image", "Inference, {count} images", int(batch)).format(count=batch),
                     format_bytes(memory.inference_batch_bytes))
    st.caption(_("Memory at batch {batch}, {precision}, {optimizer}: {step}. An estimate from the layers' shapes, "
                 "measured within about 20 % (docs/benchmarks.md).").format(
        batch=batch, precision=memory.precision, optimizer=config.train.optimizer, step=step))
else:
    st.error(_("A {size}×{size} input fails at layer {index} ({layer}): {problem}").format(
        size=size, index=table.rows[-1].index, layer=table.rows[-1].layer, problem=table.error))

if table.min_input_size:
    st.info(_("The smallest input this architecture accepts is **{size} px**.").format(size=table.min_input_size))
else:
    st.warning(_("No input up to {size} px fits this architecture.").format(size=MAX_RESIZE))

st.subheader(_("Where the parameters, the multiply-adds and the memory go"))
st.plotly_chart(shape_cost_figure(table))

"""Shapes: what each layer of the current configuration makes of an input, and where the cost goes."""

import streamlit as st

from nin_core.charts import shape_cost_figure, shape_styler
from nin_core.config import MAX_RESIZE
from nin_core.shapes import shape_table
from pages.components import get_config, inside_app

inside_app()

config = get_config()
st.title("Shapes")
st.caption("Each layer's output for one image of the current configuration (set on *Playground & training*). "
           "For the seed configuration at 224 px these are exactly the shapes the chapter prints.")

resize = config.arch.resize if isinstance(config.arch.resize, int) else 224
size = st.number_input("Input size (px)", min_value=1, max_value=MAX_RESIZE, value=min(max(resize, 1), MAX_RESIZE),
                       step=1, help="Defaults to the configuration's resize; try others to see where the network breaks.")
# Problems with the network itself (the size is this page's question): the table may still show, or may not build.
issues = [str(i) for i in config.validate() if i.field.startswith("arch.") and i.field != "arch.resize"]
try:
    table = shape_table(config.arch, int(size))
except Exception as e:  # noqa: BLE001 - a configuration the layers cannot even be built from
    st.error("This configuration cannot be built: " + "; ".join(issues or [str(e)]))
    st.stop()
if issues:
    st.warning("This configuration will not train as it stands: " + "; ".join(issues))

st.dataframe(shape_styler(table), hide_index=True, placeholder="—")

if table.ok:
    totals = st.columns(3)
    totals[0].metric("Parameters", f"{table.total_params:,}")
    totals[1].metric("Multiply-adds per image", f"{table.total_mult_adds:,}")
    totals[2].metric("Output", str(list(table.output_shape)))
else:
    st.error(f"A {size}×{size} input fails at layer {table.rows[-1].index} ({table.rows[-1].layer}): {table.error}")

if table.min_input_size:
    st.info(f"The smallest input this architecture accepts is **{table.min_input_size} px**.")
else:
    st.warning(f"No input up to {MAX_RESIZE} px fits this architecture.")

st.subheader("Where the parameters and the multiply-adds go")
st.plotly_chart(shape_cost_figure(table))

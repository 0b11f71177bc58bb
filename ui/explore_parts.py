"""The Look inside page's sections (not a page): the image with what the model made of it, the class maps and the
logits, the first layer's filters, and every layer's output."""

from __future__ import annotations

import streamlit as st
from PIL import Image

from nin_core.i18n import _
from nin_core.lab import explorer
from nin_core.lab.explorer import CHANNEL_CAP, Exploration, LayerOutput
from nin_core.network.charts import enlarge
from nin_core.network.config import ArchConfig
from nin_core.network.shapes import shape_table
from ui.top_classes import top_classes


def overview(result: Exploration, view: Image.Image, inverted: bool, names: tuple[str, ...], title: str) -> None:
    """The model's view, the predicted class's map, the saliency map side by side, and the top classes."""
    guess = _(names[result.predicted])
    probs = result.probabilities
    st.markdown(f"{title} → **{guess}** ({probs[result.predicted]:.0%})")
    seen, heat, saliency, bars = st.columns([1, 1, 1, 2])
    seen.image(enlarge(view), caption=_("as the model sees it (inverted)") if inverted else _("as the model sees it"))
    class_map = explorer.class_map_overlay(result, view)
    if class_map is None:
        heat.info(_("No class map: this model has a fully connected head."))
    else:
        heat.image(enlarge(class_map), caption=_("class map of “{name}”").format(name=guess))
    saliency.image(enlarge(explorer.saliency_overlay(result, view)),
                   caption=_("saliency: |∂ logit of “{name}” / ∂ pixel|").format(name=guess))
    top_p, top_i = probs.topk(min(3, len(names)))
    top_classes(bars, [(names[i], p) for i, p in zip(top_i.tolist(), top_p.tolist(), strict=True)])


def class_maps(result: Exploration, names: tuple[str, ...]) -> None:
    st.subheader(_("Class maps → logits"))
    picture = explorer.class_maps_picture(result, names)  # the pictures' labels stay English: their font has no CJK
    if picture is None:
        st.info(_("This model has a fully connected head: the last block keeps its channels, and a linear layer "
                  "mixes all of them into the logits, so no map belongs to a class. The logits are the last layer "
                  "below."))
        return
    st.image(picture)
    st.caption(_("The last block's output, one map per class, all on one scale. The global average pool takes each "
                 "map's mean (the number under it), and that mean is the class's logit: no fully connected layer. "
                 "A map framed in red is all zero, so its logit is 0; when every map is, the model has stalled."))


def filters(result: Exploration) -> None:
    picture = explorer.filters_picture(result)
    if picture is not None:
        st.subheader(_("The first layer's filters"))
        st.image(picture)
        st.caption(_("Each filter of the first convolution, white for positive weights and black for negative, all "
                     "on one scale. Its output is the first layer below, channel for channel."))


def layers(result: Exploration, arch: ArchConfig) -> None:
    """Each top-level layer (a row of the shape table) under its own heading; a block with its inner layers."""
    st.subheader(_("Every layer"))
    st.caption(_("Channels are sorted most active (highest mean) first, each layer on its own scale; the {count} "
                 "most active are drawn unless all are asked for. Red: all zero for this image.").format(
        count=CHANNEL_CAP))
    rows = {row.index: row.description for row in shape_table(arch).rows}
    tops = {top.index: top for top in result.top_level}
    heading = object()
    for layer in result.drawn:
        if layer.index != heading:
            heading = layer.index
            if layer.index is None:
                st.markdown(_("**Input** — {description}").format(description=_(layer.description)))
            elif top := tops.get(layer.index):
                st.markdown(f"**{top.name} · {top.kind}** — {rows.get(layer.index, top.description)}")
        channels(layer)


@st.fragment
def channels(layer: LayerOutput) -> None:
    """One output's channels; showing them all reruns only this."""
    count = layer.channels().shape[0]
    text, switch = st.columns([5, 1], vertical_alignment="center")
    # A layer inside a block as PyTorch prints it (code; the translation may set it as such).
    inner = _("{name} {module} · ").format(name=layer.name, module=layer.description) if "." in layer.name else ""
    text.caption(inner + layer.caption())
    everything = count > CHANNEL_CAP and switch.toggle(_("All {count} channels").format(count=count),
                                                       key=f"all_channels.{layer.name}")
    st.image(explorer.layer_picture(layer, None if everything else CHANNEL_CAP))

"""Look inside: one image through every layer of a trained NiN, from the picture as the model sees it to the
class maps and the logits, with the first layer's filters and where the prediction's gradient points."""

import secrets

import streamlit as st

from nin_core.i18n import N_, _, format_in_language
from nin_core.lab.explorer import explore
from nin_core.network.charts import png_bytes
from nin_core.network.data import CLASS_NAMES, DataNotFoundError, sample_test_images
from nin_core.network.predict import ImageError, load_image
from nin_core.runs.models import model_choices
from ui import explore_parts as parts
from ui.model_picker import pick_model
from ui.state import get_store, inside_app, translated_choice
from ui.text import as_text

inside_app()

RANDOM, OWN = "A random test image", "Your own image"  # the choices' values; shown as IMAGE_CHOICES says
IMAGE_CHOICES = {RANDOM: N_("A random test image"), OWN: N_("Your own image")}

st.title(_("Look inside"))
choices = model_choices(get_store().list_runs())
if not choices:
    st.info(_("No trained model is available yet: train one on *Playground & training*; it appears here when it "
              "finishes."))
    st.stop()
predictor = pick_model(choices)

if st.segmented_control(_("Image"), [RANDOM, OWN], default=RANDOM, required=True,
                        key=translated_choice("explore.image"),
                        format_func=format_in_language(lambda c: _(IMAGE_CHOICES[c]))) == RANDOM:
    if st.button(_("Another random test image"), icon=":material/casino:") or "explore_seed" not in st.session_state:
        st.session_state.explore_seed = secrets.randbelow(2**31)
    try:
        [(test_image, label)] = sample_test_images(1, st.session_state.explore_seed)
    except DataNotFoundError as e:
        st.error(str(e))
        st.stop()
    name, data = _("test image"), png_bytes(test_image.numpy())
    title = _("A test image (true: **{name}**)").format(name=_(CLASS_NAMES[label]))
else:
    upload = st.file_uploader(_("Your image"), type=["png", "jpg", "jpeg", "gif", "bmp", "webp"])
    if upload is None:
        st.info(_("Upload a picture of a piece of clothing, a shoe or a bag: it is shown as the model sees it."))
        st.stop()
    name, data, title = upload.name, upload.getvalue(), f"**{as_text(upload.name)}**"

try:
    image = load_image(data, name, size_hint=predictor.size)
except ImageError as e:
    st.warning(as_text(str(e)))  # it names the file
    st.stop()
x, view, inverted = predictor.model_input(image)
result = explore(predictor.model, x)

parts.overview(result, view, inverted, predictor.class_names, title)
parts.class_maps(result, predictor.class_names)
parts.filters(result)
parts.layers(result, predictor.config.arch)

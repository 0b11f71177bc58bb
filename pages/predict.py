"""Predict: a trained NiN on your own images or on random test images, with what it looked at."""

import secrets

import streamlit as st

from nin_core.i18n import N_, _, format_in_language
from nin_core.network.charts import enlarge, png_bytes
from nin_core.network.config import preset
from nin_core.network.data import CLASS_NAMES, DataNotFoundError, sample_test_images
from nin_core.network.predict import Prediction, Predictor, overlay
from nin_core.runs.jobs import ensure_worker
from nin_core.runs.models import model_choices
from ui.live_run import launched_here
from ui.model_picker import pick_model
from ui.state import get_store, inside_app, translated_choice
from ui.text import as_text
from ui.top_classes import top_classes

inside_app()

INVERT = {N_("auto"): None, N_("invert"): True, N_("don't invert"): False}  # shown with _()
SAMPLES = 8


def show(predictor: Predictor, name: str, data: bytes, key: str, top_k: int, truth: int | None = None) -> None:
    """One image: predicted with its own inversion choice, then shown as the model saw it."""
    p: Prediction = predictor.predict_files([(name, data)], top_k, INVERT[st.session_state.get(key) or "auto"])[0]
    if p.error:
        st.warning(as_text(p.error))  # it starts with the file's name, which its owner chose
        return
    # Without an error a prediction has all of these.
    assert p.predicted is not None and p.model_view is not None and p.class_map is not None
    guess = _(predictor.class_names[p.predicted])
    right = (":green[:material/check: " + _("right") if truth == p.predicted
             else ":red[:material/close: " + _("wrong")) + "]"
    verdict = "" if truth is None else _(" · true: **{name}** {verdict}").format(name=_(CLASS_NAMES[truth]),
                                                                                  verdict=right)
    with st.container(border=True):
        st.markdown(f"**{as_text(name)}** → **{guess}** ({p.top_k[0][1]:.0%}){verdict}")
        for note in p.notes:
            st.caption(f":material/info: {note}")
        view, heat, bars = st.columns([1, 1, 2])
        view.image(enlarge(p.model_view), caption=_("as the model sees it (inverted)") if p.inverted
                   else _("as the model sees it"))
        heat.image(enlarge(overlay(p.model_view, p.class_map)), caption=_("class map of “{name}”").format(name=guess))
        top_classes(bars, p.top_k)
        bars.segmented_control(_("Inversion"), list(INVERT), default="auto", required=True, key=translated_choice(key),
                               format_func=format_in_language(_))


st.title(_("Predict"))
store = get_store()
choices = model_choices(store.list_runs())
if not choices:
    st.info(_("No trained model is available yet. Train one here (the `cpu` preset takes a few minutes on a "
              "laptop) or on *Playground & training*; it appears here when it finishes."))
    waiting = [r for r in store.list_runs() if r.active]
    if waiting:
        st.caption(_("Run #{id} ({name}) is {status}; come back when it finishes.").format(
            id=waiting[0].id, name=as_text(waiting[0].name), status=waiting[0].status.label))
    elif st.button(_("Train the cpu preset"), type="primary"):
        run_id = store.create_run(preset("cpu"), "cpu preset")
        launched_here(run_id)
        ensure_worker(store)
        st.success(_("Run #{id} is queued: follow it on *Runs*.").format(id=run_id))
    st.stop()

predictor = pick_model(choices)
st.page_link("pages/explore.py", label=_("Look inside this model: every layer on one image"),
             icon=":material/layers:")
top_k = st.slider(_("Classes to show"), 1, predictor.num_classes, min(3, predictor.num_classes))
st.caption(_("Images become {size}×{size} greyscale, light on dark like Fashion-MNIST: a light background is "
             "inverted automatically; override it per image.").format(size=predictor.size))

uploads = st.file_uploader(_("Your images"), type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
                           accept_multiple_files=True)
for upload in uploads or []:
    show(predictor, upload.name, upload.getvalue(), f"invert_{upload.file_id}", top_k)

st.subheader(_("Random test images"))
if st.button(_("Draw random test images")):
    st.session_state.predict_seed = secrets.randbelow(2**31)
if "predict_seed" in st.session_state:
    try:
        samples = sample_test_images(SAMPLES, st.session_state.predict_seed)
    except DataNotFoundError as e:
        st.error(str(e))
        samples = []
    for i, (image, label) in enumerate(samples):
        key = f"invert_sample_{st.session_state.predict_seed}_{i}"
        show(predictor, _("test image {n}").format(n=i + 1), png_bytes(image.numpy()), key, top_k, truth=label)

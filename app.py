"""The NiN dashboard: configure Network in Network, train it on Fashion-MNIST, look inside it, try it."""

import streamlit as st

st.set_page_config(page_title="NiN dashboard", page_icon=":material/hub:", layout="wide")

navigation = st.navigation([
    st.Page("pages/train.py", title="Playground & training", icon=":material/tune:", default=True),
    st.Page("pages/shapes.py", title="Shapes", icon=":material/table_chart:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
])
navigation.run()

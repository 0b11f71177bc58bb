"""The NiN dashboard: configure Network in Network, train it on Fashion-MNIST, look inside it, try it."""

if __name__ == "__main__":  # Streamlit runs this file for every page view
    from ui.state import app_navigation

    app_navigation().run()
else:  # `streamlit run app.py` imports it first: the app, served with the live panel's routes beside it
    import streamlit as st

    import ui.preload  # noqa: F401 - once, before any session: first visits do not wait for imports
    from nin_core.runs.live import routes

    # the configuration is read by now (flags, config.toml): the routes go under its base path, as Streamlit's own
    app = st.App(__file__, routes=routes(st.get_option("server.baseUrlPath")))

"""What every page shares (not a page): the app's navigation, the run store, and THE configuration.

The configuration lives in ``st.session_state`` so every page works on the same one. It starts from the link's
query parameters when there are any, else from the seed preset with a CUDA GPU and the cpu preset without;
the link is kept in step with it (only what differs from its preset), so copying the URL shares the settings.
"""

from __future__ import annotations

import streamlit as st

from nin_core.i18n import LANGUAGES, _, language, language_of, set_language
from nin_core.network.config import PRESETS, ConfigError, ConfigIssue, RunConfig
from nin_core.runs.store import RunStore
from nin_core.runs.urlconfig import CONFIG_KEYS, closest_preset, decode, default_preset, encode, has_config
from ui.text import as_code, as_text

_CONFIG, _BASE, _PRESET, _VERSION = "nin.config", "nin.config_base", "nin.preset", "nin.config_version"
URL_ISSUES = "nin.url_issues"
_UPLOAD_PROBLEM, _UPLOAD_LOADED = "nin.upload_problem", "nin.upload_loaded"
_APP_RAN = "nin.app_ran"
_LANGUAGE, _LANGUAGE_SWITCH, LANG_PARAM = "nin.language", "nin.language_switch", "lang"
_TRANSLATED_CHOICES = "nin.translated_choices"
FIELD_PREFIX = "cfg."  # the training page's fields' keys: cfg.<setting>.v<version>


# --- the app's navigation -----------------------------------------------------------------------------

def app_navigation():
    """The app's pages, as app.py runs them (and its page settings)."""
    from nin_core.runs.jobs import ensure_worker
    from ui.prefetch import chart_code

    choose_language()
    st.set_page_config(page_title=_("NiN dashboard"), page_icon=":material/hub:", layout="wide")
    st.session_state[_APP_RAN] = True
    # Runs left queued when the machine stopped (or their worker died) start again as soon as anyone looks.
    ensure_worker(get_store())
    language_switch()
    chart_code()
    return st.navigation([
        st.Page("pages/train.py", title=_("Playground & training"), icon=":material/tune:", default=True),
        st.Page("pages/shapes.py", title=_("Shapes"), icon=":material/table_chart:"),
        st.Page("pages/predict.py", title=_("Predict"), icon=":material/image_search:"),
        st.Page("pages/explore.py", title=_("Look inside"), icon=":material/layers:"),
        st.Page("pages/runs.py", title=_("Runs"), icon=":material/monitoring:"),
        st.Page("pages/exercises.py", title=_("Exercises"), icon=":material/school:"),
        st.Page("pages/search.py", title=_("Search"), icon=":material/travel_explore:"),
    ])


def choose_language() -> None:
    """The language of this script run: the link's ``?lang=``, else the session's earlier choice, else the
    browser's; kept in the link (beside the configuration's parameters), so every link shared carries it."""
    ss = st.session_state
    wanted = st.query_params.get(LANG_PARAM)
    if wanted in LANGUAGES:
        ss[_LANGUAGE] = wanted
    elif _LANGUAGE not in ss:
        ss[_LANGUAGE] = language_of(st.context.locale)
    set_language(ss[_LANGUAGE])
    if wanted != ss[_LANGUAGE]:
        st.query_params[LANG_PARAM] = ss[_LANGUAGE]


def language_switch() -> None:
    """The sidebar's switch; the configuration and its fields stay as they are (widgets are known by their keys)."""
    ss = st.session_state
    ss[_LANGUAGE_SWITCH] = language()

    def switch() -> None:
        if ss[_LANGUAGE_SWITCH] in LANGUAGES:  # clicking the chosen language again unselects it: nothing changes
            ss[_LANGUAGE] = st.query_params[LANG_PARAM] = ss[_LANGUAGE_SWITCH]
            for key in ss.get(_TRANSLATED_CHOICES, ()):  # given back: drawn again under their new labels
                if key in ss:
                    ss[key] = ss[key]

    st.sidebar.segmented_control("Language / 语言", list(LANGUAGES), format_func=LANGUAGES.__getitem__,
                                 key=_LANGUAGE_SWITCH, on_change=switch)


def translated_choice(key: str) -> str:
    """The key of a choice widget (selectbox, multiselect, segmented control) whose options are shown in the
    reader's language. The browser knows a choice by the label it drew and sends that label back: after a language
    switch it would keep the old language's label. The switch gives such a widget its (language-free) value again,
    which makes the browser draw it anew."""
    st.session_state.setdefault(_TRANSLATED_CHOICES, set()).add(key)
    return key


def inside_app() -> None:
    """Every page starts here. On a freshly started server, a link straight to a page reaches it before app.py
    ever ran, and Streamlit still treats pages/ as its old auto-discovered folder: the page would run alone, with
    the folder's files as navigation. Run the app's navigation instead (it shows the same page) and stop."""
    if not st.session_state.get(_APP_RAN):
        app_navigation().run()
        st.stop()
    choose_language()  # again: a page can also run on its own (AppTest's switch_page), in the session's language


def get_store() -> RunStore:
    """The run store under $NIN_HOME (or ./runs). Cheap: opened afresh on each call, never cached."""
    return RunStore()


# --- the configuration --------------------------------------------------------------------------------

def _ensure_config() -> None:
    ss = st.session_state
    if _CONFIG in ss:
        return
    params = st.query_params.to_dict()
    if has_config(params):
        decoded = decode(params)
        ss[URL_ISSUES] = decoded.unreadable
        _put(decoded.config, decoded.preset)
    else:
        name = default_preset()
        _put(PRESETS[name], name)


def _put(config: RunConfig, preset: str) -> None:
    ss = st.session_state
    ss[_CONFIG], ss[_BASE], ss[_PRESET] = config, config, preset
    ss[_VERSION] = ss.get(_VERSION, 0) + 1


def get_config() -> RunConfig:
    """The current configuration (and the link kept in step with it)."""
    _ensure_config()
    _rebase_forgotten_fields()
    sync_url()
    return st.session_state[_CONFIG]


def _rebase_forgotten_fields() -> None:
    """Streamlit forgets the state of the widgets a page run did not draw: after another page, the training page's
    fields would start again from the configuration of the last set_config and lose what was typed into them.
    Then they start from the current configuration, under new keys."""
    ss = st.session_state
    suffix = f".v{ss[_VERSION]}"
    drawn = any(isinstance(k, str) and k.startswith(FIELD_PREFIX) and k.endswith(suffix) for k in ss)
    if not drawn and ss[_CONFIG] != ss[_BASE]:
        ss[_BASE] = ss[_CONFIG]
        ss[_VERSION] += 1


def get_preset() -> str:
    """The preset the current configuration starts from."""
    _ensure_config()
    return st.session_state[_PRESET]


def set_config(config: RunConfig, preset: str | None = None) -> None:
    """Make ``config`` the current configuration everywhere; the training page's fields start again from it.
    ``preset`` names what it is based on (the closest preset if not given)."""
    _put(config, preset if preset in PRESETS else closest_preset(config))
    sync_url()


def update_config(config: RunConfig) -> None:
    """Record the configuration the training page's fields now hold (the fields are left as they are)."""
    _ensure_config()
    st.session_state[_CONFIG] = config
    sync_url()


def config_version() -> int:
    _ensure_config()
    return st.session_state[_VERSION]


def base_config() -> RunConfig:
    """The configuration as it was at the last set_config: what the fields start from."""
    _ensure_config()
    return st.session_state[_BASE]


def sync_url() -> None:
    """Write the configuration into the query parameters (keeping any other page's parameters)."""
    ss = st.session_state
    if _CONFIG not in ss:
        return
    current = st.query_params.to_dict()
    wanted = {k: v for k, v in current.items() if k not in CONFIG_KEYS} | encode(ss[_CONFIG], ss[_PRESET])
    if wanted != current:
        st.query_params.from_dict(wanted)


def config_issues(config: RunConfig) -> list[ConfigIssue]:
    """Everything that keeps ``config`` from training here (nin_core's checks before a launch)."""
    from nin_core.runs.jobs import launch_issues

    return launch_issues(config)


# --- presets and configuration files ------------------------------------------------------------------

def preset_picker() -> None:
    """The presets with what each is for; picking one makes it the current configuration."""
    from nin_core.network.config import PRESET_DESCRIPTIONS

    names, preset, key = list(PRESETS), get_preset(), f"preset.v{config_version()}"

    def pick() -> None:
        set_config(PRESETS[st.session_state[key]], st.session_state[key])

    st.radio(_("Preset"), names, index=names.index(preset), key=key, horizontal=True, on_change=pick,
             captions=[_(PRESET_DESCRIPTIONS[n]) for n in names])


def changes_caption(config: RunConfig) -> None:
    """What differs from the preset (with Reset), and from the chapter: the settings the book did not have."""
    from nin_core.network.config import SEED, SETTINGS
    from nin_core.network.settings import capped, format_value
    from nin_core.runs.urlconfig import differences

    preset = get_preset()
    changed = differences(config, PRESETS[preset])
    if changed:  # values capped: a link may carry 400 blocks or 20,000 characters, which the fields already hold
        text, reset = st.columns([6, 1], vertical_alignment="center")
        text.caption(_("Changed from **{preset}**: {changes}").format(preset=preset, changes=", ".join(
            f"{k} {capped(format_value(v))}" for k, v in changed.items())))
        reset.button(_("Reset"), key=f"reset.v{config_version()}", icon=":material/restart_alt:",
                     on_click=lambda: set_config(PRESETS[preset], preset),
                     help=_("back to the {preset} preset").format(preset=preset))
    beyond = {k: v for k, v in differences(config, SEED).items() if not SETTINGS[k].spec.chapter}
    if beyond:
        st.markdown(":violet-badge[:material/science: " + _("beyond the chapter") + "] " + _(", ").join(
            f"{_(SETTINGS[k].spec.label).lower()} **{capped(format_value(v))}**" for k, v in beyond.items()))


def config_file_buttons(config: RunConfig) -> None:
    """Download the configuration as JSON; upload one (a file that cannot be read changes nothing). The upload's
    callback runs before the page has set the language, so it keeps only what happened (the file, its name); what
    is said about it is written here, in the reader's language."""
    ss = st.session_state
    st.download_button(_("Download configuration (JSON)"), config.to_json(), file_name="nin-config.json",
                       mime="application/json", icon=":material/download:", on_click="ignore", width="stretch")
    st.file_uploader(_("Load a configuration (JSON)"), type=["json"], key="config_upload", on_change=_load_upload)
    loaded = ss.pop(_UPLOAD_LOADED, None)
    if loaded is not None:
        st.toast(_("Loaded {name}.").format(name=as_text(loaded)), icon=":material/upload:")
    refused = ss.get(_UPLOAD_PROBLEM)
    problem = upload_problem(*refused) if refused else None
    if problem:
        st.error(problem, icon=":material/error:")


def upload_problem(name: str, data: bytes) -> str | None:
    """Why an uploaded configuration file named ``name`` was refused, in the current language; None if it loads."""
    try:
        RunConfig.from_json(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _("{name} is not a text file; nothing was changed.").format(name=as_text(name))
    except ConfigError as e:
        return _("{name} was not loaded; nothing was changed.").format(name=as_text(name)) + " " + " ".join(
            _("{field} {problem}.").format(field=as_code(i.field), problem=as_text(i.message)) for i in e.issues)
    return None


def _load_upload() -> None:
    ss = st.session_state
    ss[_UPLOAD_PROBLEM] = None
    upload = ss.get("config_upload")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        config = RunConfig.from_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ConfigError):
        ss[_UPLOAD_PROBLEM] = (upload.name, data)  # said in the page's language by config_file_buttons
        return
    set_config(config)
    ss[_UPLOAD_LOADED] = upload.name

"""Durations as a person reads them: one formatter for ETAs, tables and estimates."""

from __future__ import annotations

import math

from nin_core.i18n import _, ngettext


def format_duration(seconds: float | None, *, about: bool = False) -> str:
    """``4s``, ``2m 05s``, ``1h 02m``; ``about``: rounded, for an estimate (``about 40 s``, ``about 12 min``,
    ``about 3 h 20 min``, ``about 2 days 5 h``). None or not finite: ``—``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if about:
        return _about(seconds)
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return _("{h}h {m:02d}m").format(h=h, m=m)
    return _("{m}m {s:02d}s").format(m=m, s=s) if m else _("{s}s").format(s=s)


def _about(seconds: float) -> str:
    if seconds < 45:
        return _("about {n} s").format(n=max(5, round(seconds / 5) * 5))
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("about {n} min").format(n=max(1, minutes))
    if seconds < 24 * 3600:
        minutes = round(seconds / 600) * 10  # to the nearest 10 minutes
        h, m = divmod(minutes, 60)
        if h >= 24:
            return ngettext("about {n} day", "about {n} days", 1).format(n=1)
        return (_("about {h} h {m} min") if m else _("about {h} h")).format(h=h, m=m)
    hours = round(seconds / 3600)
    d, h = divmod(hours, 24)
    return (ngettext("about {n} day {h} h", "about {n} days {h} h", d) if h
            else ngettext("about {n} day", "about {n} days", d)).format(n=d, h=h)

"""Durations as a person reads them: one formatter for ETAs, tables and estimates."""

from __future__ import annotations

import math


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
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def _about(seconds: float) -> str:
    if seconds < 45:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {max(1, minutes)} min"
    if seconds < 24 * 3600:
        minutes = round(seconds / 600) * 10  # to the nearest 10 minutes
        h, m = divmod(minutes, 60)
        if h >= 24:
            return "about 1 day"
        return f"about {h} h" + (f" {m} min" if m else "")
    hours = round(seconds / 3600)
    d, h = divmod(hours, 24)
    return f"about {d} day{'s' if d != 1 else ''}" + (f" {h} h" if h else "")

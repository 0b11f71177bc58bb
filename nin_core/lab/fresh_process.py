"""One way to measure in a fresh Python process, where nothing this one holds counts: a step's memory, a run's
start-up. ``in_fresh_process("nin_core.lab.bench:rss_child", config_json)`` calls that function in a new
interpreter started in the repository's root; its arguments and its result pass as JSON (the result through a file,
so that whatever a library prints cannot be taken for it).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from nin_core import ROOT


class FreshProcessError(RuntimeError):
    """The function failed in its process; the message ends with what it wrote to stderr."""


def in_fresh_process(target: str, *args: Any, timeout: float | None = None) -> Any:
    """``target`` (``"package.module:function"``) called with ``args`` in a fresh interpreter: its result."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-m", __name__, target, json.dumps(args), str(result)],
                              capture_output=True, text=True, cwd=ROOT, timeout=timeout)
        if done.returncode != 0:
            raise FreshProcessError(f"{target} failed in a fresh process: {done.stderr[-2000:]}")
        return json.loads(result.read_text())


def _child(target: str, args: str, result: str) -> None:
    module, name = target.split(":")
    value = getattr(importlib.import_module(module), name)(*json.loads(args))
    Path(result).write_text(json.dumps(value))


if __name__ == "__main__":
    _child(*sys.argv[1:])

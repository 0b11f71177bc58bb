"""A restarted app's first training page, timed (docs/benchmarks.md): the page drawn by Streamlit's AppTest in a
fresh process, on a home whose estimates.json holds the device's speed only (what a home kept before the default
preset's own steps were kept there too) or the speed and those steps. Alternated, several times each; prints
each draw's seconds and the medians' ratio.

    .venv/bin/python scripts/restarted_page.py [ROUNDS]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nin_core.lab.estimate import measure_for_new_session  # noqa: E402 - from the checkout, as the app does

DRAW = """
import sys, time
from streamlit.testing.v1 import AppTest

at = AppTest.from_file("app.py", default_timeout=300)
start = time.perf_counter()
at.run()
assert not at.exception, [e.value for e in at.exception]
print(time.perf_counter() - start)
"""


def draw(home: Path) -> float:
    out = subprocess.run([sys.executable, "-c", DRAW], cwd=ROOT, env=os.environ | {"NIN_HOME": str(home)},
                         capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        both = Path(tmp) / "both"
        both.mkdir()
        measure_for_new_session(both)
        kept = json.loads((both / "estimates.json").read_text())
        speed = Path(tmp) / "speed"
        speed.mkdir()
        (speed / "estimates.json").write_text(json.dumps({k: v for k, v in kept.items() if "steps of" not in k}))
        times: dict[str, list[float]] = {"speed only": [], "speed and steps": []}
        for _ in range(rounds):
            for name, source in (("speed only", speed), ("speed and steps", both)):
                home = Path(tmp) / "home"
                shutil.rmtree(home, ignore_errors=True)
                shutil.copytree(source, home)  # a fresh copy: the draw writes what it measures
                times[name].append(draw(home))
                print(f"{name}: {times[name][-1]:.2f} s", flush=True)
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(json.dumps({"median_s": medians, "ratio": medians["speed and steps"] / medians["speed only"]}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

#!/usr/bin/env bash
# Trains the demo model that the Predict page offers before any run exists: the cpu preset, with the project's
# own CLI, on the real Fashion-MNIST. Writes nin_core/demo/demo.pt and demo.json (configuration, final metrics,
# the command, the machine). Run from the repository root: bash scripts/make-demo.sh
set -euo pipefail
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
start=$(date +%s)
NIN_HOME="$home" .venv/bin/python -m nin_core train --preset cpu --name demo --quiet
seconds=$(( $(date +%s) - start ))
mkdir -p nin_core/demo
NIN_HOME="$home" SECONDS_TAKEN="$seconds" .venv/bin/python - <<'PY'
import json, os, platform, shutil, subprocess
from nin_core.runs.store import RunStore

[run] = RunStore().list_runs()
shutil.copyfile(run.checkpoint, "nin_core/demo/demo.pt")
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout
            .splitlines() if l.startswith("Model name")), platform.processor())
json.dump({"command": "python -m nin_core train --preset cpu", "test_acc": run.final["test_acc"],
           "final": run.final, "seconds": int(os.environ["SECONDS_TAKEN"]), "device": run.device,
           "machine": f"{cpu}, {os.cpu_count()} cores", "config": run.config.to_dict()},
          open("nin_core/demo/demo.json", "w"), indent=2)
print(json.dumps(run.final))
PY

"""The CPU that processes and the whole machine used, read from /proc (Linux): what the benchmarks and the browser
tests use to tell a run's or a page's own cost from what other processes took."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def process_tree() -> dict[int, list[int]]:
    """Each running process's children, by parent pid."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # it ended meanwhile
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> set[int]:
    """Every process below ``pid`` (not ``pid`` itself)."""
    tree = process_tree() if tree is None else tree
    found, todo = set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def cpu_seconds(pids: set[int]) -> float:
    """User and system CPU seconds the processes used so far (those that are gone count nothing)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of ``pid`` and everything below it."""
    return cpu_seconds({pid} | descendants(pid))


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy over all its cores: neither idle nor waiting on I/O. Steal (a
    virtual machine's core taken by its host) counts as busy: like another process, it took the core from us."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def load_1min() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])

"""Exclusive locks between processes on one machine: a file held with ``flock``, released when its holder exits,
however it exits."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, *, wait: Callable[[], bool] | None) -> Iterator[bool]:
    """Hold an exclusive lock on ``path``. ``wait`` None: try once (yields whether it got it); else poll, calling
    ``wait`` between tries, and give up (yield False) when it returns False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if wait is None or not wait():
                    got = False
                    break
                time.sleep(0.5)
        try:
            yield got
        finally:
            if got:
                fcntl.flock(f, fcntl.LOCK_UN)

"""What a piece of work costs: wall time and the peak resident memory of this process and its children (a notebook's
kernel, Spark's JVM, joblib workers), sampled in a background thread.

    with Cost() as cost:
        run_something()
    cost.seconds, cost.peak_mb
"""

from __future__ import annotations

import contextlib
import threading
import time

import psutil


def tree_rss(process: psutil.Process | None = None) -> int:
    """Resident bytes of a process and all its descendants (0 for those that vanish while being read)."""
    process = process or psutil.Process()
    total = 0
    for p in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class Cost:
    """Context manager: `seconds` (wall) and `peak_mb` (peak RSS of the process tree of `process`, default this
    one, every `interval_s`)."""

    def __init__(self, interval_s: float = 0.1, process: psutil.Process | None = None):
        self.interval_s = interval_s
        self.process = process
        self.peak, self.seconds = 0, 0.0

    def __enter__(self) -> Cost:
        self._start = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        me = self.process or psutil.Process()
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):  # the process itself may have ended
                self.peak = max(self.peak, tree_rss(me))
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._start

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

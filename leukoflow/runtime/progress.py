"""Progress of long steps: done/total and the time left, in a log line at least every 30 s.

A log file gets plain lines; a terminal on stderr gets the same lines (Snakemake's own output is
line-based, so a redrawn bar would garble it). Every step that can run longer than about 30 s on
real data reports through this: frozen-feature passes, training epochs, heatmaps of a slide group,
the provenance search, screening.
"""

from __future__ import annotations

import logging
import time

INTERVAL_S = 30.0


class Progress:
    """Count items of one step and log `<step>: done/total (pct), <rate>/s, about <eta> left`."""

    def __init__(self, step: str, total: int, logger: logging.Logger, interval_s: float | None = None, unit: str = ""):
        self.step, self.total, self.log = step, max(0, int(total)), logger
        self.interval = INTERVAL_S if interval_s is None else interval_s
        self.unit = f" {unit}" if unit else ""
        self.done = 0
        self.start = self.last = time.perf_counter()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.last >= self.interval or (self.done >= self.total and now - self.start >= self.interval):
            self.last = now
            self.log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "unknown" if left == float("inf") else _duration(left)
        return (
            f"{self.step}: {self.done}/{self.total}{self.unit} ({100 * share:.0f}%), "
            f"{rate:.2f}{self.unit or ' items'}/s, about {eta} left"
        )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"

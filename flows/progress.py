"""Per-stage progress of a monitor cycle for `newswatch -v`: counts, rate and, with a known total, an ETA.

Lines go to the `newswatch.progress` logger at INFO; the CLI shows them with -v, otherwise nothing is printed
and nothing is computed (callers check `enabled()` before counting a backlog)."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("newswatch.progress")

# A log record carrying this attribute (extra={PRINTED: True}) says something the CLI prints in its own summary
# (an alert, a failed feed): the CLI keeps it out of the terminal so each is printed once (the Prefect UI keeps it).
PRINTED = "newswatch_printed"


def enabled() -> bool:
    return log.isEnabledFor(logging.INFO)


class StageProgress:
    """Progress of one stage: `advance` as items are done (thread-safe, a line at most every `every_seconds`),
    `finish` once with a summary. `total` may grow while the stage runs (the fetch stage feeding the embedder)."""

    def __init__(self, stage: str, unit: str, total: int | None = None, every_seconds: float = 2.0) -> None:
        self.stage = stage
        self.unit = unit
        self.total = total
        self.done = 0
        self.every = every_seconds
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()
        self._on = enabled()

    def advance(self, n: int = 1, total: int | None = None) -> None:
        if not self._on:
            return
        with self._lock:
            self.done += n
            if total is not None:
                self.total = total
            now = time.monotonic()
            if now - self._last < self.every:
                return
            self._last = now
            log.info("%s: %s", self.stage, self._line(now))

    def finish(self, summary: str = "") -> None:
        if self._on:
            elapsed = time.monotonic() - self.started
            log.info("%s: done in %.1f s%s", self.stage, elapsed, f": {summary}" if summary else "")

    def _line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        line = f"{self.done}" + (f"/{self.total}" if self.total else "") + f" {self.unit}, {rate:.1f}/s"
        if self.total and rate > 0 and self.done < self.total:
            line += f", ETA {_duration((self.total - self.done) / rate)}"
        return line


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"

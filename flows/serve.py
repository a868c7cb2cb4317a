"""`newswatch serve`: one long-running process that runs the monitor cycle every N minutes and the daily digest
at digest.send_time (digest.timezone) as Prefect flow runs, with the model kept loaded between runs.

Composition only. Runs never overlap (one loop, plus a lock file against a second service or a manual run);
a cycle that finds the warehouse busy waits and retries; Ctrl-C / SIGTERM stops at the next stage boundary
(a second Ctrl-C stops at once; every stage has committed its work, so nothing is lost either way).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow

import warehouse.paths
from flows import cycle, resources
from flows.deliver import deliver_outbox
from pipeline.errors import NewswatchError, TransientError, WarehouseBusy
from pipeline.settings import Settings

log = logging.getLogger("newswatch.serve")


class ServiceRunning(NewswatchError):
    def __init__(self, lock_path: Path) -> None:
        super().__init__(f"another newswatch process is running cycles on this warehouse (lock {lock_path})")


@contextmanager
def cycle_lock(warehouse_path: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """An exclusive OS lock beside the warehouse: one writer process at a time, released if the process dies."""
    lock_path = warehouse.paths.lock_path(warehouse_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as fh:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ServiceRunning(lock_path) from None
                time.sleep(0.5)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@flow(name="newswatch-digest", log_prints=False, validate_parameters=False)
def digest_flow(settings: Settings, now: datetime) -> Any:
    """Queue and send the digest that is due at `now` (once per day and channel) and flush the outbox."""
    return deliver_outbox(settings, now=now)


def next_digest_time(now: datetime, send_time: str, timezone: str) -> datetime:
    """The next instant (UTC) at which the local clock in `timezone` reads `send_time`, strictly after `now`."""
    tz = ZoneInfo(timezone)
    hour, minute = (int(p) for p in send_time.split(":"))
    local = now.astimezone(tz)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate.astimezone(UTC)


@dataclass
class ServeStats:
    cycles: int = 0
    digests: int = 0
    busy_retries: int = 0
    failed_cycles: int = 0


def serve(
    settings: Settings, *, interval_minutes: float, max_cycles: int | None = None,
    on_cycle: Callable[[int, Any], None] | None = None, busy_retry_seconds: float = 15.0,
) -> ServeStats:
    """Run cycles every `interval_minutes` and the digest at its send time until stopped (or `max_cycles`)."""
    stats = ServeStats()
    resources.STOP.clear()
    interrupts = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        log.warning("stopping after the current stage (signal %d again to stop at once)", signum)
        resources.STOP.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    resources.embedder(settings.embed.model, settings.embed.batch_size)  # load once, before the first cycle
    try:
        with cycle_lock(settings.warehouse.path), cycle.api_client():  # one Prefect API client for every cycle
            next_cycle = datetime.now(UTC)
            next_digest = next_digest_time(datetime.now(UTC), settings.digest.send_time, settings.digest.timezone)
            while not resources.STOP.is_set():
                now = datetime.now(UTC)
                if now >= next_digest:
                    try:
                        digest_flow(settings, now)
                        stats.digests += 1
                    except TransientError as exc:
                        log.warning("digest delivery deferred: %s", exc)
                    next_digest = next_digest_time(now, settings.digest.send_time, settings.digest.timezone)
                if now >= next_cycle:
                    try:
                        report = cycle.run_cycle(settings, settle=False)  # slow pages: the next cycle stores them
                        stats.cycles += 1
                        if on_cycle:
                            on_cycle(stats.cycles, report)
                        next_cycle = now + timedelta(minutes=interval_minutes)
                    except cycle.CycleFailed as exc:
                        if isinstance(exc.cause, WarehouseBusy):
                            stats.busy_retries += 1
                            log.warning("%s; retrying in %.0f s", exc, busy_retry_seconds)
                            next_cycle = now + timedelta(seconds=busy_retry_seconds)
                        elif isinstance(exc.cause, TransientError):
                            stats.failed_cycles += 1
                            log.warning("%s; next one as scheduled", exc)
                            next_cycle = now + timedelta(minutes=interval_minutes)
                        else:
                            raise
                    if max_cycles is not None and stats.cycles >= max_cycles:
                        break
                wake = min(next_cycle, next_digest)
                while not resources.STOP.is_set() and datetime.now(UTC) < wake:
                    time.sleep(min(1.0, max(0.0, (wake - datetime.now(UTC)).total_seconds())))
            cycle.settle_stragglers(settings)  # slow pages still downloading are stored before the lock is let go
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return stats

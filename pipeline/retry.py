"""When to try again after a failure: the one exponential backoff of feeds, pages and the outbox.

A `Backoff` doubles from `base_seconds` with each failure, up to `cap_seconds`, spread by its jitter so that things
that failed together do not retry together; a server's Retry-After is honoured when it asks for longer (up to
`retry_after_cap_seconds`); with `max_attempts` the tries end. The policies of the three callers are built from
their settings here (for_feeds, for_pages, for_outbox), so each rule has one place.

Pure: no network, no database, no clock (callers pass `now`; jitter comes from `rng`, default: a fresh one).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pipeline.retry_after import MAX_RETRY_AFTER_SECONDS
from pipeline.settings import AlertSettings, FetchSettings

# Doubling stops here (2**40 times the base is past any cap): a feed failing for years never overflows.
_MAX_DOUBLINGS = 40


@dataclass(frozen=True)
class Backoff:
    """A retry policy. The delay after `failures` failed tries (>= 1) is base_seconds * 2 ** (failures - 1),
    capped at cap_seconds, then jittered: "none" keeps it; "spread" multiplies it by 0.8-1.2 (never past the cap);
    "equal" takes between half and all of it."""

    base_seconds: float
    cap_seconds: float = math.inf
    jitter: Literal["none", "spread", "equal"] = "none"
    max_attempts: int | None = None  # tries in all, the first included; None: retried forever, never dropped
    retry_after_cap_seconds: float = MAX_RETRY_AFTER_SECONDS  # a longer Retry-After is cut to this

    def delay(self, failures: int, retry_after_seconds: float | None = None,
              rng: random.Random | None = None) -> timedelta:
        """How long to wait after the `failures`-th failed try; a Retry-After (seconds) longer than that wins."""
        seconds = min(self.base_seconds * 2 ** min(max(failures - 1, 0), _MAX_DOUBLINGS), self.cap_seconds)
        if self.jitter == "spread":
            seconds = min(seconds * (rng or random).uniform(0.8, 1.2), self.cap_seconds)
        elif self.jitter == "equal":
            seconds = seconds / 2 + (rng or random).uniform(0, seconds / 2)
        if retry_after_seconds:
            seconds = max(seconds, min(retry_after_seconds, self.retry_after_cap_seconds))
        return timedelta(seconds=seconds)

    def exhausted(self, failures: int) -> bool:
        """Whether `failures` failed tries use up max_attempts (then there is no next try)."""
        return self.max_attempts is not None and failures >= self.max_attempts

    def next_attempt_at(self, failures: int, now: datetime, retry_after_seconds: float | None = None,
                        rng: random.Random | None = None) -> datetime | None:
        """When to try again after the `failures`-th failed try at `now`; None when the tries are used up."""
        if self.exhausted(failures):
            return None
        return now + self.delay(failures, retry_after_seconds, rng)


def for_feeds(fetch: FetchSettings) -> Backoff:
    """A failing feed: from fetch.backoff_base_minutes up to fetch.backoff_max_minutes (+-20 %), retried forever;
    a Retry-After is honoured up to the same cap."""
    cap = fetch.backoff_max_minutes * 60
    return Backoff(fetch.backoff_base_minutes * 60, cap, "spread", retry_after_cap_seconds=cap)


def for_pages(fetch: FetchSettings) -> Backoff:
    """A page that failed transiently (timeout, 5xx, 429): fetch.page_retry_minutes, doubling, for
    fetch.page_attempts tries in all."""
    return Backoff(fetch.page_retry_minutes * 60, max_attempts=fetch.page_attempts)


def for_outbox(alerts: AlertSettings) -> Backoff:
    """An alert or digest delivery that failed transiently: from alerts.retry_base_seconds up to
    alerts.retry_max_seconds with equal jitter, for alerts.max_attempts tries in all."""
    return Backoff(alerts.retry_base_seconds, alerts.retry_max_seconds, "equal", max_attempts=alerts.max_attempts)

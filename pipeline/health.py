"""The health of the service as outcomes: a cycle's (ok / degraded / down) and the overall status that
`newswatch status` prints, with the exit codes both commands share.

Pure: no I/O; the warehouse facts come in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

OK, DEGRADED, DOWN = "ok", "degraded", "down"
# `newswatch run` and `newswatch status` exit with these (docs/operations.md): cron and systemd see non-zero.
EXIT_CODES = {OK: 0, DEGRADED: 1, DOWN: 2}
_RANK = {OK: 0, DEGRADED: 1, DOWN: 2}


def cycle_outcome(*, feeds_answered: int, failed_stage: str | None) -> str:
    """`down` when no feed could be polled (every feed due failed, none could be tried: all muted or backing off,
    or the cycle stopped before polling); `degraded` when a stage failed after some feeds answered; else `ok`.
    Some feeds failing while others answer is `ok` for the cycle: `newswatch status` lists each failing feed and
    turns `degraded` once one has failed for longer than fetch.failing_alert_hours."""
    if not feeds_answered:
        return DOWN
    return DEGRADED if failed_stage else OK


@dataclass(frozen=True)
class CycleRecord:
    """One monitor cycle as recorded in the `cycles` table."""

    cycle_id: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    failed_stage: str | None = None
    error: str | None = None
    feeds_due: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_muted: int = 0
    feeds_backing_off: int = 0
    new_entries: int = 0
    articles: int = 0
    relevant: int = 0
    incidents_opened: int = 0
    alerts: int = 0


@dataclass(frozen=True)
class OutboxBacklog:
    """Alerts and digests waiting for delivery, the oldest pending alert, alerts given up on."""

    pending_alerts: int
    oldest_pending_alert_at: datetime | None
    failed_alerts: int
    pending_digests: int


@dataclass(frozen=True)
class FeedHealth:
    name: str
    muted: bool
    consecutive_failures: int
    last_status: str | None
    last_error: str | None
    last_success_at: datetime | None
    next_poll_at: datetime | None


@dataclass(frozen=True)
class Status:
    outcome: str
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def service_status(*, now: datetime, last_cycle: CycleRecord | None, feeds: Sequence[FeedHealth],
                   oldest_pending_alert_at: datetime | None, failing_alert_hours: float,
                   pending_alert_max_seconds: float, max_cycle_age_minutes: float | None) -> Status:
    """The service's outcome and why: the last cycle's outcome; `down` with no cycle on record or when the last
    one started more than `max_cycle_age_minutes` ago (the timer or service stopped); `degraded` when an unmuted
    feed has been failing for more than `failing_alert_hours` (as the digest lists it) or an alert has waited for
    delivery longer than `pending_alert_max_seconds`."""
    if last_cycle is None:
        return Status(DOWN, ["no cycle on record: has `newswatch run` or `newswatch serve` ever run here?"])
    worst = last_cycle.outcome
    reasons = []
    if last_cycle.outcome != OK:
        what = f"{last_cycle.failed_stage} stage failed: {last_cycle.error}" if last_cycle.failed_stage else (
            "no feed could be polled")
        reasons.append(f"last cycle {last_cycle.outcome}: {what}")
    if max_cycle_age_minutes is not None and now - last_cycle.started_at > timedelta(minutes=max_cycle_age_minutes):
        worst = DOWN
        reasons.append(f"last cycle started {_ago(now - last_cycle.started_at)} ago (more than "
                       f"{max_cycle_age_minutes:g} min)")

    def degrade(reason: str) -> None:
        nonlocal worst
        if _RANK[worst] < _RANK[DEGRADED]:
            worst = DEGRADED
        reasons.append(reason)

    long_failing = [f.name for f in feeds if not f.muted and f.consecutive_failures
                    and (f.last_success_at is None
                         or now - f.last_success_at > timedelta(hours=failing_alert_hours))]
    if long_failing:
        degrade(f"{len(long_failing)} feed(s) failing for more than {failing_alert_hours:g} h: "
                f"{', '.join(long_failing)}")
    if oldest_pending_alert_at is not None and (now - oldest_pending_alert_at).total_seconds() > pending_alert_max_seconds:
        degrade(f"an alert has waited {_ago(now - oldest_pending_alert_at)} for delivery")
    return Status(worst, reasons)


def _ago(delta: timedelta) -> str:
    return age_text(delta.total_seconds())


def age_text(seconds: float) -> str:
    """A duration for people: "45 s", "12 min", "3.5 h", "2.0 days"."""
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

"""Outbox rules, pure: which incidents a channel wants, a delivery's next state (when it is tried again:
pipeline/retry.py), the stable message ids, and which day's digest is due. No network, no database, no clock (callers pass `now`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline import retry
from pipeline.alerts import AlertDetail, AlertSources, alert_detail
from pipeline.errors import ConfigInvalid, DeliveryFailed, PermanentError
from pipeline.models import stable_id
from pipeline.settings import AlertChannel, AlertSettings

# The right-hand side of every Message-ID: fixed (not the sender's domain) so an id never changes with config.
MESSAGE_ID_DOMAIN = "newswatch"


@dataclass(frozen=True)
class IncidentFacts:
    """What a channel filter looks at."""

    incident_id: str
    country: str | None
    intruder: str | None
    source_count: int


def _norm(word: str) -> str:
    word = " ".join(word.casefold().split())
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def channel_wants(channel: AlertChannel, incident: IncidentFacts) -> bool:
    """True when `incident` passes the channel's topic filter (countries, intruders, min_sources).

    An empty list lets everything through, including incidents whose country/intruder is unknown; a non-empty
    list needs a known value that matches (case-insensitive; a plural 's' is ignored: 'drone' = 'drones').
    """
    if incident.source_count < channel.min_sources:
        return False
    if channel.countries and (incident.country is None
                              or _norm(incident.country) not in {_norm(c) for c in channel.countries}):
        return False
    if channel.intruders:
        if incident.intruder is None:
            return False
        have = _norm(incident.intruder)
        if not any(_norm(i) == have or _norm(i) in have.split() for i in channel.intruders):
            return False
    return True


def alert_message_id(alert_id: str) -> str:
    """The Message-ID of an alert e-mail; the same for every attempt (alert_id is one per incident and channel)."""
    return f"<{alert_id}.alert@{MESSAGE_ID_DOMAIN}>"


def digest_id(day: date, channel: str) -> str:
    """One digest per day and channel: also its idempotency key."""
    return stable_id("digest", day.isoformat(), channel)


def digest_message_id(digest_id_: str) -> str:
    return f"<{digest_id_}.digest@{MESSAGE_ID_DOMAIN}>"


@dataclass(frozen=True)
class Outcome:
    """What to write back after one delivery attempt."""

    status: str  # 'sent' | 'pending' (retry at next_attempt_at) | 'failed' (gave up)
    error: str | None
    next_attempt_at: datetime | None


def decide_outcome(error: DeliveryFailed | None, attempts_before: int, now: datetime, settings: AlertSettings,
                   rng: random.Random | None = None) -> Outcome:
    """The row's next state after an attempt: sent; pending with a backoff time (transient error, attempts
    left); failed (permanent error, or max_attempts reached). `attempts_before` excludes this attempt."""
    if error is None:
        return Outcome("sent", None, None)
    attempts = attempts_before + 1
    if isinstance(error, PermanentError):
        return Outcome("failed", f"rejected: {error}", None)
    next_attempt_at = retry.for_outbox(settings).next_attempt_at(attempts, now, error.retry_after_seconds, rng)
    if next_attempt_at is None:
        return Outcome("failed", f"gave up after {attempts} attempts: {error}", None)
    return Outcome("pending", str(error), next_attempt_at)


def digest_day_due(now: datetime, send_time: str, timezone: str) -> date:
    """The latest day whose digest is due at `now`: day D is sent on D+1 at `send_time` (local time in
    `timezone`). Before send_time that is the day before yesterday, from send_time on it is yesterday."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigInvalid("config", "digest.timezone", f"unknown time zone {timezone!r}") from exc
    local = now.astimezone(tz)
    hour, minute = (int(p) for p in send_time.split(":"))
    if local.time() >= time(hour, minute):
        return local.date() - timedelta(days=1)
    return local.date() - timedelta(days=2)


@dataclass(frozen=True)
class OutboxAlert:
    """A pending alert row claimed for delivery, with what its message is made of."""

    sources: AlertSources
    attempts: int  # attempts before this one

    @property
    def detail(self) -> AlertDetail:
        """What its message says (pipeline.alerts.alert_detail)."""
        return alert_detail(self.sources)


@dataclass(frozen=True)
class OutboxDigest:
    """A pending digest row claimed for delivery (rendered when it was queued)."""

    digest_id: str
    day: date
    channel: str
    message_id: str
    subject: str
    body_text: str
    body_html: str
    payload_json: str
    attempts: int

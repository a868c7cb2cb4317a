"""The one reader of HTTP Retry-After headers, for feeds, pages and webhooks alike.

Pure: never raises. A value is ASCII digits (delta-seconds) or an HTTP date; anything else ('²', '1e3', '-5',
'inf', a malformed date) is ignored and the caller's own backoff applies.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A server may ask us to wait (429/503 Retry-After); more than a day is treated as a day.
MAX_RETRY_AFTER_SECONDS = 86_400.0
_DIGITS = re.compile(r"[0-9]{1,20}")  # re.ASCII not needed: the class is spelt out


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value, clamped to [0, one day]; None when absent or unreadable.
    `now` (timezone-aware, default: the current time) is what an HTTP date is measured from."""
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    if not value.isascii():
        return None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)

"""Mail bodies from the Jinja2 templates in pipeline/templates/: the daily digest and the alert e-mail.

Pure: no I/O beyond reading the packaged templates. `*.html` templates autoescape every value (feed text is
hostile) and link only plain http(s) URLs; `*.txt` templates are plain text and never reach a header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pipeline.errors import ConfigInvalid


def one_line(value: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(value.split())


def safe_url(url: str) -> str | None:
    """The URL when it is a plain http(s) link, else None (no javascript:, data:, or whitespace tricks)."""
    u = url.strip()
    if not u.lower().startswith(("http://", "https://")) or any(c.isspace() or ord(c) < 32 for c in u):
        return None
    return u


def zone(tz_name: str) -> ZoneInfo:
    """The IANA time zone `tz_name`. Raises ConfigInvalid naming digest.timezone for an unknown zone."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigInvalid("config", "digest.timezone", f"unknown time zone {tz_name!r}") from exc


class Clock:
    """Formats instants in one time zone: `time` 06:05, `stamp` 2025-09-10 06:05 CEST."""

    def __init__(self, tz_name: str) -> None:
        self.tz = zone(tz_name)

    def time(self, at: datetime) -> str:
        return f"{at.astimezone(self.tz):%H:%M}"

    def stamp(self, at: datetime) -> str:
        local = at.astimezone(self.tz)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()

    def stamp_utc(self, at: datetime) -> str:
        """`stamp`, followed by the UTC time when the zone is not UTC: 2025-09-10 06:05 CEST (04:05 UTC)."""
        local = self.stamp(at)
        if at.astimezone(self.tz).utcoffset() == at.astimezone(UTC).utcoffset():
            return local if local.endswith("UTC") else f"{local} (UTC)"
        return f"{local} ({at.astimezone(UTC):%H:%M} UTC)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",), default=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(one_line=one_line, safe_url=safe_url)
    env.globals.update(plural=_plural)
    return env


def render(template: str, **context: Any) -> str:
    """The named template (e.g. "digest.html") rendered with `context`."""
    return environment().get_template(template).render(**context)

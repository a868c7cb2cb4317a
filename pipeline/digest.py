"""Digest stage, pure part: the day's news for the desk rendered as HTML (inline CSS, mail-client safe) and text.

No I/O: the flow reads the warehouse views into a DigestData and writes or sends what these return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import ConfigInvalid


@dataclass(frozen=True)
class DigestIncident:
    incident_id: str
    title: str
    country: str | None
    intruder: str | None
    first_seen_at: datetime
    first_url: str
    first_feed: str
    article_count: int
    source_count: int
    new_articles: int  # articles published on the digest day


@dataclass(frozen=True)
class DigestArticle:
    title: str
    url: str
    feed: str
    published_at: datetime
    incident_title: str | None


@dataclass(frozen=True)
class DigestFeed:
    feed: str
    url: str
    last_status: str | None
    consecutive_failures: int
    last_error: str | None


@dataclass(frozen=True)
class DigestData:
    day: date
    timezone: str
    new_incidents: tuple[DigestIncident, ...]
    grown_incidents: tuple[DigestIncident, ...]
    top_articles: tuple[DigestArticle, ...]
    failing_feeds: tuple[DigestFeed, ...]
    articles_seen: int
    relevant_articles: int

    @property
    def quiet(self) -> bool:
        return not self.new_incidents and not self.grown_incidents


def day_window(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local day `day` in time zone `tz_name`. Raises ConfigInvalid for a bad zone."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigInvalid("config", "digest.timezone", f"unknown time zone {tz_name!r}") from exc
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def digest_subject(data: DigestData) -> str:
    if data.quiet:
        return f"[newswatch] Daily digest {data.day:%Y-%m-%d}: quiet day, no new incidents"
    return (f"[newswatch] Daily digest {data.day:%Y-%m-%d}: {len(data.new_incidents)} new incident(s), "
            f"{len(data.grown_incidents)} updated")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _counts(i: DigestIncident) -> str:
    return f"{_plural(i.article_count, 'article')} from {_plural(i.source_count, 'source')} (+{i.new_articles} today)"


def _other_title(a: DigestArticle) -> bool:
    """The article belongs to an incident named after another article (else naming it again is noise)."""
    return bool(a.incident_title) and " ".join(a.incident_title.split()) != " ".join(a.title.split())  # type: ignore[union-attr]


def _tags(i: DigestIncident) -> str:
    return " · ".join(t for t in (i.country, i.intruder) if t)


def render_text(data: DigestData) -> str:
    """Plain-text digest."""
    out = [digest_subject(data).removeprefix("[newswatch] "), "=" * 60, ""]
    out.append(f"Articles seen: {data.articles_seen}; about the topic: {data.relevant_articles}.")
    if data.quiet:
        out.append("Quiet day: no new incidents and no updates to known ones.")
    for heading, items in (("NEW INCIDENTS", data.new_incidents), ("INCIDENTS THAT GREW", data.grown_incidents)):
        if not items:
            continue
        out += ["", heading, "-" * len(heading)]
        for i in items:
            tags = f" ({_tags(i)})" if _tags(i) else ""
            out.append(f"* {' '.join(i.title.split())}{tags}")
            out.append(f"  first report {i.first_seen_at:%Y-%m-%d %H:%M} UTC, {i.first_feed}: {i.first_url}")
            out.append(f"  {_counts(i)}")
    if data.top_articles:
        out += ["", "TOP ARTICLES", "------------"]
        for a in data.top_articles:
            out.append(f"* {' '.join(a.title.split())} — {a.feed}, {a.published_at:%H:%M} UTC")
            out.append(f"  {a.url}")
    out += ["", "FEEDS FAILING", "-------------"]
    if data.failing_feeds:
        for f in data.failing_feeds:
            out.append(f"* {f.feed}: {f.last_status} ({f.consecutive_failures} polls in a row) {f.last_error or ''}".rstrip())
    else:
        out.append("All feeds answered.")
    return "\n".join(out) + "\n"


_CSS_CARD = "border:1px solid #d8dee4;border-radius:6px;padding:12px 14px;margin:0 0 10px 0;background:#ffffff"
_CSS_H2 = "font-size:16px;margin:22px 0 8px 0;color:#1f2328;border-bottom:2px solid #0969da;padding-bottom:4px"
_CSS_TAG = "display:inline-block;background:#ddf4ff;color:#0550ae;border-radius:10px;padding:1px 8px;font-size:12px"
_CSS_MUTED = "color:#57606a;font-size:13px"


def _link(url: str, label: str) -> str:
    """A link only for plain http(s) URLs (a feed may carry javascript: or data: links); else the label as text."""
    u = url.strip()
    if not u.lower().startswith(("http://", "https://")) or any(c.isspace() or ord(c) < 32 for c in u):
        return escape(label)
    return f'<a href="{escape(u, quote=True)}" style="color:#0969da">{escape(label)}</a>'


def _incident_html(i: DigestIncident) -> str:
    tags = "".join(f' <span style="{_CSS_TAG}">{escape(t)}</span>' for t in (i.country, i.intruder) if t)
    return (
        f'<div style="{_CSS_CARD}"><div style="font-size:15px;font-weight:bold;color:#1f2328">'
        f"{escape(i.title)}{tags}</div>"
        f'<div style="{_CSS_MUTED};margin-top:4px">First report {i.first_seen_at:%Y-%m-%d %H:%M} UTC · '
        f'{escape(i.first_feed)} · {_link(i.first_url, "read")}</div>'
        f'<div style="{_CSS_MUTED}">{_counts(i)}</div></div>'
    )


def render_html(data: DigestData) -> str:
    """HTML digest with inline CSS only (no <style>, no scripts, no external resources); all feed text escaped."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
        f"<title>{escape(digest_subject(data))}</title></head>",
        '<body style="margin:0;padding:0;background:#f6f8fa;font-family:Helvetica,Arial,sans-serif">',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">',
        '<div style="max-width:680px;margin:0 auto;padding:20px;text-align:left">',
        '<h1 style="font-size:22px;margin:0 0 4px 0;color:#1f2328">newswatch daily digest</h1>',
        f'<div style="{_CSS_MUTED}">{data.day:%A %d %B %Y} ({escape(data.timezone)}) · {data.articles_seen} articles seen, '
        f"{data.relevant_articles} about the topic</div>",
    ]
    if data.quiet:
        parts.append(f'<div style="{_CSS_CARD};margin-top:16px">Quiet day: no new incidents and no updates '
                     "to known ones.</div>")
    for heading, items in (("New incidents", data.new_incidents), ("Incidents that grew", data.grown_incidents)):
        if items:
            parts.append(f'<h2 style="{_CSS_H2}">{heading} ({len(items)})</h2>')
            parts.extend(_incident_html(i) for i in items)
    if data.top_articles:
        parts.append(f'<h2 style="{_CSS_H2}">Top articles</h2><ul style="padding-left:18px;margin:0">')
        for a in data.top_articles:
            about = f" — in: {escape(a.incident_title)}" if _other_title(a) else ""
            parts.append(
                f'<li style="margin:0 0 6px 0">{_link(a.url, a.title)}<span style="{_CSS_MUTED}"> · {escape(a.feed)}, '
                f"{a.published_at:%H:%M} UTC{about}</span></li>"
            )
        parts.append("</ul>")
    parts.append(f'<h2 style="{_CSS_H2}">Feed health</h2>')
    if data.failing_feeds:
        parts.append('<table cellpadding="4" cellspacing="0" style="border-collapse:collapse;font-size:13px">')
        for f in data.failing_feeds:
            parts.append(
                f'<tr><td style="border-bottom:1px solid #d8dee4"><b>{escape(f.feed)}</b></td>'
                f'<td style="border-bottom:1px solid #d8dee4;color:#cf222e">{escape(f.last_status or "")}</td>'
                f'<td style="border-bottom:1px solid #d8dee4">{f.consecutive_failures} in a row</td>'
                f'<td style="border-bottom:1px solid #d8dee4;{_CSS_MUTED}">{escape(f.last_error or "")}</td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append(f'<div style="{_CSS_MUTED}">All feeds answered.</div>')
    parts.append("</div></td></tr></table></body></html>")
    return "\n".join(parts)

"""Poll stage: conditional GET of a feed (`fetch_feed`), of every due feed at once (`poll_sources`), and turning
its body into entries (`parse_feed`, pure).

No database; the flow stores what these return.
"""

from __future__ import annotations

import calendar
import html
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from pipeline import web
from pipeline.errors import FeedMalformed, FetchFailed
from pipeline.models import (
    FeedEntry,
    FeedResponse,
    FeedSource,
    FeedState,
    FeedSubscription,
    ParsedFeed,
    stable_id,
)
from pipeline.sanitize import clean_line
from pipeline.settings import FeedSettings, FetchSettings

_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.I)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment, default ports and tracking parameters."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.port and not ((parts.scheme == "http" and parts.port == 80) or (parts.scheme == "https" and parts.port == 443)):
        host = f"{host}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", query, ""))


def plain_text(fragment: str) -> str:
    """Feed HTML fragment -> one line of printable text (tags removed, entities decoded, CR/LF folded, control
    characters, NUL and bidi overrides removed, also when spelt as character references)."""
    return _SPACE.sub(" ", clean_line(html.unescape(_TAGS.sub(" ", fragment or "")))).strip()


def feed_sources(configured: Sequence[FeedSettings], added: Sequence[FeedSubscription]) -> list[FeedSource]:
    """What a cycle polls: the configured [[feeds]], then the feeds added with `newswatch feeds` (a configured
    feed of the same name wins)."""
    sources = [FeedSource(f.name, f.url) for f in configured]
    names = {s.name for s in sources}
    return sources + [FeedSource(s.name, s.url) for s in added if s.name not in names]


def fetch_feed(
    client: web.Client, source: FeedSource, fetch: FetchSettings, etag: str | None, last_modified: str | None
) -> FeedResponse:
    """Conditional GET of one feed. Raises FeedUnavailable / FetchRefused (see pipeline.web.fetch)."""
    resp = web.fetch(
        client, source.url, max_bytes=fetch.max_feed_bytes, timeout_seconds=fetch.timeout_seconds,
        max_redirects=fetch.max_redirects, allow_private_addresses=fetch.allow_private_addresses,
        etag=etag, last_modified=last_modified,
    )
    return FeedResponse(
        source=source, status=resp.status, body=None if resp.status == 304 else resp.body,
        etag=resp.headers.get("etag") or etag, last_modified=resp.headers.get("last-modified") or last_modified,
        content_type=resp.headers.get("content-type"), final_url=resp.final_url,
    )


# One feed's poll: (source, response or None on failure, parsed feed or None when not modified or failed, failure)
FeedOutcome = tuple[FeedSource, FeedResponse | None, ParsedFeed | None, FetchFailed | FeedMalformed | None]


def poll_sources(client: web.Client, sources: Sequence[FeedSource], states: Mapping[str, FeedState],
                 fetch: FetchSettings, on_done: Callable[[], None] | None = None) -> list[FeedOutcome]:
    """Conditional GET (with each feed's stored validators in `states`) and parse of every source, in order:
    fetch.concurrency GETs at a time and fetch.per_host_concurrency per host (politeness), one feed parsed at a
    time. A feed that fails is returned with its FetchFailed / FeedMalformed, never raised; `on_done` is called as
    each feed is done."""
    host_limits: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(fetch.per_host_concurrency))
    parsing = threading.Lock()  # one feed parsed at a time, GETs concurrent

    def one(source: FeedSource) -> FeedOutcome:
        state = states[source.name]
        try:
            with host_limits[urlsplit(source.url).netloc]:
                resp = fetch_feed(client, source, fetch, state.etag, state.last_modified)
            if resp.body is None:
                return source, resp, None, None
            with parsing:
                parsed = parse_feed(source, resp.body, resp.content_type, resp.final_url, fetch.max_entries_per_feed)
            return source, resp, parsed, None
        except (FetchFailed, FeedMalformed) as exc:
            return source, None, None, exc
        finally:
            if on_done is not None:
                on_done()

    with ThreadPoolExecutor(max_workers=fetch.concurrency) as pool:
        return list(pool.map(one, sources))


def _entry_time(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _entry_lang(entry: feedparser.FeedParserDict, feed_lang: str | None) -> str | None:
    """The entry's own language (an item-level xml:lang that differs from the feed's), else None: a feed-level
    language is only the outlet's default (a multilingual outlet's feed declares one language for every item),
    so the text's language is then detected at extraction."""
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if detail and detail.get("language"):
            lang = clean_line(str(detail["language"])).split("-")[0].lower()[:35]
            return lang if lang != feed_lang else None
    return None


_BAD_CHARREF = re.compile(rb"&#(x[0-9a-fA-F]+|[0-9]+);")


def _fix_charref(match: re.Match[bytes]) -> bytes:
    """A numeric character reference beyond U+10FFFF makes feedparser raise (chr() out of range): use U+FFFD."""
    raw = match.group(1).lstrip(b"xX0") or b"0"
    if len(raw) > 8:
        return b"&#65533;"
    code = int(raw, 16) if match.group(1)[:1] in (b"x", b"X") else int(raw)
    return match.group(0) if code <= 0x10FFFF else b"&#65533;"


_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


def _not_a_feed(body: bytes, bozo: str | None) -> str:
    """Why a body with no feed version and no entries is not a feed, in words a user can act on."""
    if not body.strip():
        return "empty body"
    what = "an HTML page" if _HTML_START.match(body[:4096]) else "no RSS/Atom root element"
    return f"{what}; parser said: {bozo}" if bozo else what


def parse_feed(source: FeedSource, body: bytes, content_type: str | None = None, base_url: str | None = None,
               max_entries: int = 500) -> ParsedFeed:
    """Parse an RSS/Atom body into entries, newest `max_entries` kept, duplicates (same canonical URL) dropped.

    Raises FeedMalformed when the body is not a feed (no version and no entries), e.g. an HTML page or empty body.
    """
    headers = {"content-location": base_url or source.url}
    if content_type:
        headers["content-type"] = content_type
    body = _BAD_CHARREF.sub(_fix_charref, body)
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    except Exception as exc:  # feedparser bugs on hostile input become a per-feed reason, never a crashed poll
        raise FeedMalformed(source.url, f"parser failed: {type(exc).__name__}: {exc}") from exc
    bozo = clean_line(str(parsed.get("bozo_exception"))) if parsed.get("bozo") else None
    if not parsed.get("version") and not parsed.entries:
        raise FeedMalformed(source.url, _not_a_feed(body, bozo))
    feed_lang = parsed.feed.get("language")
    feed_lang = clean_line(str(feed_lang)).split("-")[0].lower()[:35] if feed_lang else None
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for raw in parsed.entries:
        link = clean_line(str(raw.get("link") or "")).strip()
        guid = clean_line(str(raw.get("id") or raw.get("guid") or link)).strip()
        title = plain_text(str(raw.get("title") or ""))
        summary = plain_text(str(raw.get("summary") or ""))
        if link.startswith(("http://", "https://")):
            entry_id = stable_id(canonical_url(link))
        elif guid:
            entry_id = stable_id(source.name, guid)
        else:
            continue  # nothing to identify or fetch
        if entry_id in seen:
            continue
        seen.add(entry_id)
        entries.append(FeedEntry(
            entry_id=entry_id, feed=source.name, guid=guid or link, url=link, title=title[:1000],
            summary=summary[:5000], published_at=_entry_time(raw), lang=_entry_lang(raw, feed_lang),
        ))
    entries.sort(key=lambda e: e.published_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    title = plain_text(str(parsed.feed.get("title") or "")) or None
    return ParsedFeed(source=source, version=str(parsed.get("version") or "unknown"),
                      entries=tuple(entries[:max_entries]), bozo_reason=bozo, title=title)

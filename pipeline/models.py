"""Records passed between stages: frozen dataclasses, no behaviour beyond derived fields.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime


def stable_id(*parts: str) -> str:
    """A short, stable hex id for a natural key (used for rows keyed on identity)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class FeedSource:
    name: str
    url: str


@dataclass(frozen=True)
class FeedResponse:
    """What a conditional GET of a feed returned. `body` is None on 304 Not Modified."""

    source: FeedSource
    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class FeedEntry:
    entry_id: str  # stable id of the canonical URL (or of feed + guid when there is no link)
    feed: str
    guid: str
    url: str
    title: str
    summary: str
    published_at: datetime | None  # aware UTC; None when the feed gave no date
    lang: str | None


@dataclass(frozen=True)
class ParsedFeed:
    source: FeedSource
    version: str
    entries: tuple[FeedEntry, ...]
    bozo_reason: str | None  # feedparser's warning, kept for feed health
    title: str | None = None  # the feed's own title (`newswatch feeds add` names a feed after it)


@dataclass(frozen=True)
class Page:
    url: str
    final_url: str
    status: int
    html: bytes
    content_type: str | None


@dataclass(frozen=True)
class Extraction:
    """The outcome of extracting one page: status 'ok' or a skip reason, never None."""

    status: str  # 'ok' | 'http_error' | 'paywall' | 'js_shell' | 'too_short' | 'not_html' | 'no_text' | ...
    reason: str  # human-readable detail
    title: str
    text: str
    published_at: datetime | None
    lang: str | None
    method: str  # 'precision' | 'recall' | 'feed' | ''

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class FeedState:
    """What the warehouse remembers about a feed between polls."""

    name: str
    url: str
    etag: str | None
    last_modified: str | None
    consecutive_failures: int
    next_poll_at: datetime | None


@dataclass(frozen=True)
class FeedPoll:
    """One poll outcome to store: status 'ok'/'not_modified' resets the failure count, anything else increments it."""

    name: str
    polled_at: datetime
    status: str
    error: str | None
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime | None


@dataclass(frozen=True)
class FetchOutcome:
    """One fetched (or failed) entry to store: `retry_at` set for a transient failure to fetch again then."""

    entry: FeedEntry
    page: Page | None
    extraction: Extraction
    fetched_at: datetime
    retry_at: datetime | None = None


@dataclass(frozen=True)
class StoredArticle:
    """An extracted article as later stages read it back."""

    article_id: str
    url: str
    feed: str
    title: str
    text: str
    published_at: datetime
    lang: str | None
    status: str


@dataclass(frozen=True)
class Judgement:
    article_id: str
    relevant: bool
    score: float
    reason: str
    report: bool
    country: str | None
    intruder: str | None
    event_day: date | None = None  # the day its headline or lead dates the event to (pipeline.eventday)
    analysis: bool = False  # a sure analysis piece (pipeline.relevance): about the topic, it joins no incident


@dataclass(frozen=True)
class IncidentRecord:
    incident_id: str
    title: str
    first_article_id: str
    first_seen_at: datetime
    country: str | None
    intruder: str | None


@dataclass(frozen=True)
class AssignmentRecord:
    article_id: str
    incident_id: str | None  # None: a non-report that matched no incident (it may not open one)
    score: float
    nearest_article_id: str | None
    opened: bool
    terms: dict[str, int]


@dataclass(frozen=True)
class Alert:
    alert_id: str
    incident_id: str
    article_id: str
    channel: str
    status: str
    created_at: datetime
    # what the message says
    incident_title: str
    country: str | None
    intruder: str | None
    article_url: str
    article_title: str
    feed: str
    published_at: datetime


@dataclass(frozen=True)
class FeedSubscription:
    """A feed added with `newswatch feeds add` / `import-opml` (stored in the warehouse, polled beside the
    configured [[feeds]])."""

    name: str
    url: str
    title: str | None
    category: str | None  # the OPML folder it came from, "News/Europe"
    added_at: datetime
    added_by: str

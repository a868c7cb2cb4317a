"""Digest stage, pure part: what the desk's daily digest says (built from warehouse rows) and its HTML
(inline CSS, mail-client safe) and text renderings (templates digest.html / digest.txt).

No I/O: the flow reads the warehouse into DigestRows and writes or sends what these functions return. Every
time is shown in the digest's time zone; every count is as of the end of the digest day.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pipeline.alerts import summarize
from pipeline.rendering import Clock, render, zone

ACTIVITY_DAYS = 14
ACTIVITY_COUNTRIES = 8  # rows of the activity strip; the rest are summed into "other"
FEED_ROWS_MAX = 30  # beyond this many feeds, healthy ones are summed up in one line
ERROR_CHARS = 160  # a feed's last error is cut here (the whole of it is in v_feed_health)


@dataclass(frozen=True)
class DigestArticle:
    article_id: str
    incident_id: str | None
    title: str
    url: str
    feed: str
    published_at: datetime
    text: str = ""  # read only where the digest summarises the article


@dataclass(frozen=True)
class IncidentRow:
    """An incident as the warehouse holds it (not dismissed, not merged)."""

    incident_id: str
    title: str
    country: str | None
    intruder: str | None
    first_seen_at: datetime
    first_article_id: str


@dataclass(frozen=True)
class FeedRow:
    """A feed's state (now) and its items up to the end of the digest day."""

    feed: str
    url: str
    last_status: str | None
    consecutive_failures: int
    last_error: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    muted: bool
    items_today: int
    newest_item_at: datetime | None  # newest item published before the end of the digest day


@dataclass(frozen=True)
class DigestRows:
    """What the warehouse gives the digest of one day: incidents with articles published up to the end of the
    day (members; those of the day carry their text), other relevant articles of the day, feeds, the relevant
    articles of the activity window as (published_at, country), the day's counts and the first cycle's time."""

    incidents: tuple[IncidentRow, ...]
    members: tuple[DigestArticle, ...]
    other_articles: tuple[DigestArticle, ...]
    feeds: tuple[FeedRow, ...]
    activity: tuple[tuple[datetime, str | None], ...]
    articles_seen: int
    relevant_articles: int
    first_cycle_at: datetime | None


@dataclass(frozen=True)
class DigestIncident:
    incident_id: str
    title: str
    country: str | None
    intruder: str | None
    first: DigestArticle  # the first report
    article_count: int  # as of the end of the digest day
    source_count: int  # distinct feeds, as of the end of the digest day
    today: tuple[DigestArticle, ...]  # published on the digest day, oldest first
    new_sources: tuple[str, ...]  # feeds whose first article about it is of the digest day
    summary: str  # new incident: its first report's; grown one: the day's newest article's

    @property
    def first_seen_at(self) -> datetime:
        return self.first.published_at

    @property
    def first_url(self) -> str:
        return self.first.url

    @property
    def first_feed(self) -> str:
        return self.first.feed

    @property
    def new_articles(self) -> int:
        return len(self.today)

    @property
    def newest(self) -> DigestArticle:
        return self.today[-1] if self.today else self.first


@dataclass(frozen=True)
class DigestFeed:
    feed: str
    failing: str | None  # why it fails ("http_404, 3 polls in a row: ..."), None when it answers
    muted: bool
    silent_days: int | None  # whole days since its newest item at the end of the day; None: no item yet
    items_today: int
    silent: bool  # silent_days reached digest.silent_after_days (or never an item)

    @property
    def problem(self) -> bool:
        return self.failing is not None or self.muted or self.silent


@dataclass(frozen=True)
class ActivityRow:
    country: str
    counts: tuple[int, ...]  # one per day of Activity.days


@dataclass(frozen=True)
class Activity:
    """Articles about the topic per country and local day, the digest day last."""

    days: tuple[date, ...]
    rows: tuple[ActivityRow, ...]

    @property
    def peak(self) -> int:
        return max((c for r in self.rows for c in r.counts), default=0)


@dataclass(frozen=True)
class DigestData:
    day: date
    timezone: str
    new_incidents: tuple[DigestIncident, ...]
    grown_incidents: tuple[DigestIncident, ...]
    other_articles: tuple[DigestArticle, ...]  # about the topic, in no incident (analysis, responses)
    feeds: tuple[DigestFeed, ...]
    activity: Activity
    articles_seen: int
    relevant_articles: int
    first_cycle_day: date | None = None  # local day of the first cycle (None: no cycle yet)
    max_articles: int = 10  # articles listed per card and under "other articles"

    @property
    def quiet(self) -> bool:
        return not self.new_incidents and not self.grown_incidents

    @property
    def before_first_cycle(self) -> bool:
        """The day ends before monitoring began (or nothing ran yet): a digest of it is never sent."""
        return self.first_cycle_day is None or self.day < self.first_cycle_day

    @property
    def failing_feeds(self) -> tuple[DigestFeed, ...]:
        return tuple(f for f in self.feeds if f.failing is not None)


def day_window(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local day `day` in time zone `tz_name`. Raises ConfigInvalid for a bad zone."""
    tz = zone(tz_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    return start.astimezone(UTC), datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)


def local_day(at: datetime, tz_name: str) -> date:
    return at.astimezone(zone(tz_name)).date()


def _incident(row: IncidentRow, members: Sequence[DigestArticle], start: datetime) -> DigestIncident | None:
    ordered = sorted(members, key=lambda a: (a.published_at, a.article_id))
    first = next((a for a in ordered if a.article_id == row.first_article_id), None)
    if first is None:
        return None
    today = tuple(a for a in ordered if a.published_at >= start)
    first_by_feed: dict[str, datetime] = {}
    for a in ordered:
        first_by_feed.setdefault(a.feed, a.published_at)
    new_sources = tuple(f for f, at in first_by_feed.items() if at >= start)
    opened_today = row.first_seen_at >= start
    lead = first if opened_today or not today else today[-1]
    return DigestIncident(row.incident_id, row.title, row.country, row.intruder, first, len(ordered),
                          len(first_by_feed), today, new_sources, summarize(lead.text))


def feed_failing(row: FeedRow, failing_for_hours: float) -> bool:
    """Whether the feed's last polls failed and its last success (none: ever since it is known) lies at least
    `failing_for_hours` before its last poll. Poll times, not the clock: a replay lists the same feeds."""
    if row.consecutive_failures <= 0:
        return False
    if row.last_success_at is None:
        return True
    if row.last_polled_at is None:
        return False
    return (row.last_polled_at - row.last_success_at).total_seconds() >= failing_for_hours * 3600


def _failing(row: FeedRow, failing_for_hours: float) -> str | None:
    if not feed_failing(row, failing_for_hours):
        return None
    # "<url>: http_404 (Not Found)" -> "Not Found": the row names the feed and the status already
    error = " ".join((row.last_error or "").replace(row.url, "").split()).strip(" :-—")
    error = error.removeprefix(row.last_status or "\0").strip(" :-—()")
    if len(error) > ERROR_CHARS:
        error = error[:ERROR_CHARS - 1].rstrip() + "…"
    polls = f"{row.consecutive_failures} poll{'s' if row.consecutive_failures != 1 else ''} in a row"
    return f"{row.last_status or 'failing'}, {polls}" + (f": {error}" if error else "")


def _feed(row: FeedRow, end: datetime, silent_after_days: int, failing_for_hours: float) -> DigestFeed:
    silent_days = None if row.newest_item_at is None else max((end - row.newest_item_at).days, 0)
    silent = silent_days is None or silent_days >= silent_after_days
    return DigestFeed(row.feed, _failing(row, failing_for_hours), row.muted, silent_days, row.items_today, silent)


def build_activity(points: Sequence[tuple[datetime, str | None]], day: date, tz_name: str,
                   days: int = ACTIVITY_DAYS, max_countries: int = ACTIVITY_COUNTRIES) -> Activity:
    """Count articles per country and local day over the `days` days ending with `day`; countries ordered by
    total (then name), those past `max_countries` summed into "other"; articles without a country are
    "unknown"."""
    tz = zone(tz_name)
    span = tuple(day - timedelta(days=n) for n in range(days - 1, -1, -1))
    index = {d: n for n, d in enumerate(span)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for at, country in points:
        n = index.get(at.astimezone(tz).date())
        if n is not None:
            counts[country or "unknown"][n] += 1
    totals = Counter({c: sum(v) for c, v in counts.items()})
    ranked = sorted(totals, key=lambda c: (c == "unknown", -totals[c], c))
    rows = [ActivityRow(c, tuple(counts[c])) for c in ranked[:max_countries]]
    rest = ranked[max_countries:]
    if rest:
        rows.append(ActivityRow("other", tuple(sum(counts[c][n] for c in rest) for n in range(days))))
    return Activity(span, tuple(rows))


def build_digest(rows: DigestRows, day: date, tz_name: str, *, silent_after_days: int = 3,
                 max_articles: int = 10, failing_for_hours: float = 0.0) -> DigestData:
    """The digest of local day `day` in `tz_name` from the warehouse's rows: incidents opened that day (new)
    and those opened before that gained articles (grown), each with the day's articles; other articles about
    the topic; feed health; the activity strip. Raises ConfigInvalid for an unknown time zone."""
    start, end = day_window(day, tz_name)
    by_incident: dict[str, list[DigestArticle]] = defaultdict(list)
    for a in rows.members:
        if a.incident_id is not None and a.published_at < end:
            by_incident[a.incident_id].append(a)
    new, grown = [], []
    for row in sorted(rows.incidents, key=lambda r: (r.first_seen_at, r.incident_id)):
        inc = _incident(row, by_incident.get(row.incident_id, []), start)
        if inc is None or inc.first_seen_at >= end:
            continue
        if inc.first_seen_at >= start:
            new.append(inc)
        elif inc.today:
            grown.append(inc)
    feeds = [_feed(f, end, silent_after_days, failing_for_hours) for f in rows.feeds]
    feeds.sort(key=lambda f: (not f.problem, f.feed))
    first_day = local_day(rows.first_cycle_at, tz_name) if rows.first_cycle_at else None
    others = tuple(sorted((a for a in rows.other_articles if start <= a.published_at < end),
                          key=lambda a: (a.published_at, a.article_id)))
    return DigestData(day, tz_name, tuple(new), tuple(grown), others, tuple(feeds),
                      build_activity(rows.activity, day, tz_name), rows.articles_seen, rows.relevant_articles,
                      first_day, max_articles)


def digest_subject(data: DigestData) -> str:
    if data.quiet:
        return f"[newswatch] Daily digest {data.day:%Y-%m-%d}: quiet day, no new incidents"
    return (f"[newswatch] Daily digest {data.day:%Y-%m-%d}: {len(data.new_incidents)} new incident(s), "
            f"{len(data.grown_incidents)} updated")


_SHADES = ("#ebeef1", "#c6dbf7", "#8cb8ef", "#4a8fe0", "#0b5cad")  # 0, then four steps up to the peak


def _shade(count: int, peak: int) -> str:
    if count <= 0 or peak <= 0:
        return _SHADES[0]
    return _SHADES[min(4, 1 + (4 * (count - 1)) // peak)]


def _context(data: DigestData) -> dict[str, object]:
    problems = [f for f in data.feeds if f.problem]
    healthy = [f for f in data.feeds if not f.problem]
    listed = data.feeds if len(data.feeds) <= FEED_ROWS_MAX else tuple(problems)
    summed = [] if len(data.feeds) <= FEED_ROWS_MAX else healthy
    peak = data.activity.peak
    return {
        "d": data, "subject": digest_subject(data), "clock": Clock(data.timezone),
        "sections": [("New incidents", "new", data.new_incidents), ("Incidents that grew", "grown",
                                                                     data.grown_incidents)],
        "feeds_listed": listed, "feeds_summed": len(summed),
        "feeds_summed_items": sum(f.items_today for f in summed),
        "shade": lambda n: _shade(n, peak), "light": lambda n: _shade(n, peak) in _SHADES[:3],
    }


def render_text(data: DigestData) -> str:
    """Plain-text digest (template digest.txt)."""
    return render("digest.txt", **_context(data))


def render_html(data: DigestData) -> str:
    """HTML digest (template digest.html): inline CSS only (no <style>, scripts or remote resources), fits a
    375 px wide screen; every feed string escaped and only http(s) URLs linked."""
    return render("digest.html", **_context(data))

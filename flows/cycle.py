"""The monitor cycle as a Prefect flow: poll -> fetch+extract -> embed -> judge -> assign -> alert.
Composition only: each task opens the warehouse for its unit of work, calls library functions, stores results.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import SyncClientContext
from prefect.utilities.annotations import quote

import warehouse.articles
import warehouse.connection
import warehouse.cycles
import warehouse.feeds
import warehouse.incidents
import warehouse.outbox
import warehouse.paths
import warehouse.queries
from flows import resources
from flows.deliver import deliver_stage, delivery_channels
from flows.progress import PRINTED, StageProgress
from flows.progress import enabled as progress_enabled
from pipeline import alerts as alert_text
from pipeline import feeds as feed_stage
from pipeline import retry, web
from pipeline.assign import StreamItem, assign_stream, build_index, members_since
from pipeline.clustering import cluster_model
from pipeline.embed import embedding_text
from pipeline.entities import headline_names_event
from pipeline.errors import FeedMalformed, FetchFailed, NewswatchError, TransientError
from pipeline.extract import extract_article
from pipeline.health import CycleRecord, cycle_outcome
from pipeline.incidents import ClusterSettings, IncidentIndex
from pipeline.lexical import DocFreq
from pipeline.models import (
    Alert,
    Extraction,
    FeedEntry,
    FeedPoll,
    FeedSource,
    FetchOutcome,
    IncidentRecord,
    Page,
)
from pipeline.outbox import channel_wants
from pipeline.relevance import judge_article
from pipeline.settings import Settings


@functools.lru_cache(maxsize=1)
def _glibc() -> Any:
    """The C library, when it is glibc (mallopt, malloc_trim); None elsewhere. Looked up once: find_library
    runs a subprocess."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (by default up to 8 per core, one per busy thread): the fetch pool's threads
    would each keep freed page buffers in an arena of their own, hundreds of MB of resident memory over a long
    run."""
    if (libc := _glibc()) is not None:
        libc.mallopt(-8, arenas)  # M_ARENA_MAX


_limit_malloc_arenas()


def _release_freed_memory() -> None:
    """Hand memory that has been freed back to the OS (glibc's malloc_trim). glibc keeps freed blocks for
    reuse: every model batch's activations, every page body and DuckDB's buffers left ~300 MB resident that
    nothing used (MiniLM over 1,000 texts: 757 MB resident after, 543 MB with a trim after each chunk; 0.2 ms a
    call)."""
    if (libc := _glibc()) is not None:
        libc.malloc_trim(0)


def _now() -> datetime:
    return datetime.now(UTC)


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a run (task.fn in tests)
        return logging.getLogger("newswatch")


@dataclass
class CycleReport:
    feeds_due: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: dict[str, str] = field(default_factory=dict)
    feeds_muted: int = 0  # not polled: an analyst muted them
    feeds_backing_off: int = 0  # not polled: failing, their next try is later
    new_entries: int = 0
    articles: dict[str, int] = field(default_factory=dict)  # status -> count
    embedded: int = 0
    judged: int = 0
    relevant: int = 0
    assigned: int = 0
    incidents_opened: int = 0
    alerts: list[Alert] = field(default_factory=list)
    stopped: bool = False  # interrupted between stages
    delivered: bool = False  # the outbox stage changed something (sent, retried, failed, queued a digest)
    failed_stage: str | None = None  # the stage that raised (the cycle stopped there)
    error: str | None = None

    @property
    def outcome(self) -> str:
        """ok / degraded / down (pipeline/health.py); the exit code of `newswatch run`."""
        return cycle_outcome(feeds_answered=self.feeds_ok + self.feeds_not_modified, failed_stage=self.failed_stage)

    def quiet(self) -> bool:
        """Nothing new came in and nothing failed: no entry, article, vector, judgement, incident or alert."""
        return not (self.feeds_ok or self.feeds_failed or self.new_entries or self.articles or self.embedded
                    or self.judged or self.assigned or self.alerts or self.delivered)


_wh = resources.warehouse  # every stage's connection, with the service's DuckDB limits


_http_client = resources.http_client  # the keep-alive client of one stage's GETs (feeds or pages)


@task(name="poll-feeds", cache_policy=NO_CACHE)
def poll_feeds(settings: Settings, report: CycleReport) -> None:
    """Conditional GET of every configured or added feed; failures are recorded per feed, never raised."""
    log = _logger()
    with _wh(settings) as con:
        # added feeds are read afresh every cycle: a running service polls one from its next cycle on
        sources = feed_stage.feed_sources(settings.feeds, warehouse.feeds.read_subscriptions(con))
        warehouse.feeds.upsert_feeds(con, sources)
        muted = warehouse.feeds.muted_feeds(con)
        report.feeds_muted = sum(s.name in muted for s in sources)
        sources = [s for s in sources if s.name not in muted]  # an analyst muted them (`newswatch mute`)
        states = {s.name: s for s in warehouse.feeds.read_feed_states(con, [s.name for s in sources])}
    now = _now()
    due = [s for s in sources if states[s.name].next_poll_at is None or states[s.name].next_poll_at <= now]
    report.feeds_due = len(due)
    report.feeds_backing_off = len(sources) - len(due)
    progress = StageProgress("poll", "feeds", len(due))
    host_limits: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(settings.fetch.per_host_concurrency))
    parsing = threading.Lock()  # one feed parsed at a time, GETs concurrent (as pages in _fetch_and_extract)
    with _http_client(settings) as client:
        def one(source: FeedSource):  # type: ignore[no-untyped-def]
            state = states[source.name]
            try:
                with host_limits[urlsplit(source.url).netloc]:  # per-host politeness, as in fetch_articles
                    resp = feed_stage.fetch_feed(client, source, settings.fetch, state.etag, state.last_modified)
                if resp.body is None:
                    return source, resp, None, None
                with parsing:
                    parsed = feed_stage.parse_feed(source, resp.body, resp.content_type, resp.final_url,
                                                   settings.fetch.max_entries_per_feed)
                return source, resp, parsed, None
            except (FetchFailed, FeedMalformed) as exc:
                return source, None, None, exc
            finally:
                progress.advance()

        with ThreadPoolExecutor(max_workers=settings.fetch.concurrency) as pool:
            results = list(pool.map(one, due))
    # Every outcome is written at the end in one transaction (hundreds of feeds cost one commit, not hundreds).
    polls: list[FeedPoll] = []
    feed_backoff = retry.for_feeds(settings.fetch)  # retried forever, never dropped
    bodies: list[tuple[str, bytes, str | None, datetime]] = []
    entries: list[FeedEntry] = []
    with _wh(settings) as con:
        for source, resp, parsed, error in results:
            polled = _now()
            state = states[source.name]
            if error is not None:
                reason = error.reason if isinstance(error, FetchFailed) else "malformed"
                retry_after = error.retry_after_seconds if isinstance(error, FetchFailed) else None
                next_poll = feed_backoff.next_attempt_at(state.consecutive_failures + 1, polled, retry_after)
                polls.append(FeedPoll(source.name, polled, reason, str(error), None, None, next_poll))
                report.feeds_failed[source.name] = str(error)
                log.warning("feed %s failed: %s", source.name, error, extra={PRINTED: True})
                continue
            assert resp is not None
            if parsed is None:
                polls.append(FeedPoll(source.name, polled, "not_modified", None, resp.etag, resp.last_modified,
                                            None))
                report.feeds_not_modified += 1
                continue
            bodies.append((source.name, resp.body or b"", resp.content_type, polled))
            entries.extend(parsed.entries)
            polls.append(FeedPoll(source.name, polled, "ok", parsed.bozo_reason, resp.etag, resp.last_modified,
                                        None))
            report.feeds_ok += 1
        with warehouse.connection.transaction(con):  # a feed's new validators (ETag) are stored only together with its entries
            warehouse.feeds.insert_feed_bodies(con, bodies)
            report.new_entries += warehouse.articles.upsert_entries(con, entries, _now())
            warehouse.feeds.mark_feeds_polled(con, polls)
    log.info("polled %d feeds: %d ok, %d not modified, %d failed, %d new entries", len(due), report.feeds_ok,
             report.feeds_not_modified, len(report.feeds_failed), report.new_entries)
    progress.finish(f"{report.feeds_ok} ok, {report.feeds_not_modified} unchanged, {len(report.feeds_failed)} "
                    f"failed, {report.feeds_muted} muted, {report.feeds_backing_off} backing off; "
                    f"{report.new_entries} new entries")


def _fetch_and_extract(client, settings: Settings, entry: FeedEntry,  # type: ignore[no-untyped-def]
                       extracting: threading.Lock) -> tuple[FeedEntry, Page | None, Extraction, FetchFailed | None]:
    """(entry, page or None, extraction, the GET's failure or None). The page is extracted one at a time
    (`extracting`): extraction is Python holding the GIL, and eight threads taking turns at it only slowed each
    other and the model beside them (500 pages: 3.5 s with eight, 2.0-2.7 s with one; benchmarks/PERFORMANCE.md).
    GETs stay concurrent."""
    f = settings.fetch
    try:
        resp = web.fetch(client, entry.url, max_bytes=f.max_page_bytes, timeout_seconds=f.timeout_seconds,
                         max_redirects=f.max_redirects, allow_private_addresses=f.allow_private_addresses)
    except FetchFailed as exc:
        extraction = Extraction(exc.reason, str(exc), entry.title, entry.summary, None, None, "feed")
        return entry, None, extraction, exc
    page = Page(entry.url, resp.final_url, resp.status, resp.body, resp.headers.get("content-type"))
    with extracting:  # the feed's language and, when it gave both, its title and date are not looked for again
        extraction = extract_article(entry.url, resp.body, page.content_type, settings.extract.min_words,
                                     lang=entry.lang or None, metadata=not (entry.title and entry.published_at))
    return entry, page, extraction, None


# Fetched pages are stored in batches of this many (one transaction each): a crash loses at most one batch of
# fetches, which the next cycle simply repeats.
FETCH_SAVE_BATCH = 64


@dataclass
class _PageGet:
    """One page GET running in a fetch thread. Kept in _RUNNING until its outcome is stored, so a GET that
    outlives its fetch stage (a straggler) is stored by the next one."""

    entry: FeedEntry
    host: str
    attempts_before: int  # fetch attempts before this one (its retry delay doubles with them)
    waited_for: bool  # False for a host known to be slow: the stage does not wait for it
    started: float  # time.monotonic()
    future: Future[tuple[FeedEntry, Page | None, Extraction, FetchFailed | None]]
    finished: float | None = None  # time.monotonic(), set when the future completes

    def straggling(self, now: float, straggler_seconds: float) -> bool:
        """Whether it ran (or has been running) for straggler_seconds or more."""
        return (self.finished or now) - self.started >= straggler_seconds


# Page GETs running in this process, by warehouse path and entry id.
_RUNNING: dict[str, dict[str, _PageGet]] = defaultdict(dict)
# Hosts whose last page GET straggled, by warehouse path: their next GETs are started but not waited for, so a
# host that stays slow does not hold every cycle for fetch.straggler_seconds. A GET of theirs that finishes in
# time takes them off the list.
_SLOW_HOSTS: dict[str, set[str]] = defaultdict(set)


class _GetThreads:
    """Threads for page GETs, `size` of them busy at most; a pool whose threads are all taken (by stragglers) is
    left to finish them and a new one is started, so a slow host never starves the others of threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool: ThreadPoolExecutor | None = None
        self.busy = 0
        self.lock = threading.Lock()

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        with self.lock:
            if self.pool is None or self.busy >= self.size:
                if self.pool is not None:
                    self.pool.shutdown(wait=False)
                self.pool = ThreadPoolExecutor(self.size, thread_name_prefix="page-get")
                self.busy = 0
            pool = self.pool
            self.busy += 1
        future = pool.submit(fn, *args)
        future.add_done_callback(lambda _: self._finished(pool))
        return future

    def _finished(self, pool: ThreadPoolExecutor) -> None:
        with self.lock:
            if pool is self.pool:
                self.busy -= 1

    def shutdown(self) -> None:
        """No new GETs; running ones finish in their threads."""
        with self.lock:
            if self.pool is not None:
                self.pool.shutdown(wait=False)


def _close_when_done(client: web.Client, futures: list[Future[Any]]) -> None:
    """Close `client` once its last GET in `futures` has finished (at once when there is none)."""
    left = [len(futures)]
    lock = threading.Lock()

    def one(_: Future[Any]) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            client.close()

    if not futures:
        client.close()
    for future in futures:
        future.add_done_callback(one)


def _outcome(settings: Settings, get: _PageGet) -> FetchOutcome:
    """The finished GET as a row to store; a transient failure gets its retry time (or none when its tries are
    used up)."""
    entry, page, extraction, failure = get.future.result()
    now = _now()
    retry_at = (retry.for_pages(settings.fetch).next_attempt_at(get.attempts_before + 1, now,
                                                                failure.retry_after_seconds)
                if isinstance(failure, TransientError) else None)
    return FetchOutcome(entry, page, extraction, now, retry_at)


@task(name="fetch-articles", cache_policy=NO_CACHE)
def fetch_articles(settings: Settings, report: CycleReport, done: threading.Event | None = None) -> None:
    """Fetch and extract every entry that has no article yet; each outcome (ok or why not) is stored, in small
    batches so the embedding stage can start on them while the rest is fetched. Sets `done` when finished.
    Ends without waiting for stragglers (fetch.straggler_seconds): see _fetch_pending."""
    try:
        _fetch_pending(settings, report)
    finally:
        if done is not None:
            done.set()


def _fetch_pending(settings: Settings, report: CycleReport) -> None:
    """The fetch stage. Entries go out one host at a time in turn (oldest entry first), at most
    fetch.concurrency GETs at a time and fetch.per_host_concurrency per host, so the pages of healthy hosts never
    queue behind a slow one. A GET running longer than fetch.straggler_seconds is a straggler: it no longer
    counts against the concurrency, and once only stragglers (and their hosts' queued pages) are left, the stage
    ends; its host is remembered as slow, and its next GETs are not waited for at all (_SLOW_HOSTS). Stragglers
    finish in their threads and are stored by the next fetch stage (or settle_stragglers); queued pages stay
    pending. So a slow host costs only its own pages, and nothing is lost."""
    f = settings.fetch
    running = _RUNNING[settings.warehouse.path]
    slow_hosts = _SLOW_HOSTS[settings.warehouse.path]
    with _wh(settings) as con:
        pending = [e for e in warehouse.articles.pending_entries(con, _now()) if e.entry_id not in running]
        attempts = warehouse.articles.read_fetch_attempts(con, [e.entry_id for e in pending])
    if not pending and not running:
        return
    progress = StageProgress("fetch", "pages", len(pending) + len(running))
    queues: dict[str, deque[FeedEntry]] = defaultdict(deque)  # by host, in order of their oldest entry; none empty
    for entry in pending:
        queues[urlsplit(entry.url).netloc].append(entry)
    busy = Counter(get.host for get in running.values())  # GETs per host, stragglers of earlier stages included
    batch: list[FetchOutcome] = []
    fetched = 0

    def save() -> None:
        if batch:
            with _wh(settings) as con:
                warehouse.articles.save_articles(con, batch)
        for outcome in batch:
            status = outcome.extraction.status
            report.articles[status] = report.articles.get(status, 0) + 1
        batch.clear()
        _release_freed_memory()  # the batch's page bodies

    extracting = threading.Lock()
    client = _http_client(settings)
    threads = _GetThreads(f.concurrency)
    started = []  # this stage's GETs
    try:
        while True:
            now = time.monotonic()
            for get in list(running.values()):
                done = get.future.done()
                if get.straggling(now, f.straggler_seconds):
                    slow_hosts.add(get.host)
                elif done:
                    slow_hosts.discard(get.host)  # answered in time: no longer slow
                if done:
                    del running[get.entry.entry_id]
                    busy[get.host] -= 1
                    batch.append(_outcome(settings, get))
                    fetched += 1
                    progress.advance()
            if len(batch) >= FETCH_SAVE_BATCH:
                save()
            fresh = [g for g in running.values() if g.waited_for and not g.straggling(now, f.straggler_seconds)]
            while len(fresh) < f.concurrency:  # start GETs, one host at a time in turn
                hosts = [h for h in queues if busy[h] < f.per_host_concurrency]
                if not hosts:
                    break
                for host in hosts[:f.concurrency - len(fresh)]:
                    entry = queues[host].popleft()
                    if not queues[host]:
                        del queues[host]
                    get = _PageGet(entry, host, attempts.get(entry.entry_id, 0), host not in slow_hosts,
                                   time.monotonic(), threads.submit(_fetch_and_extract, client, settings, entry,
                                                                    extracting))
                    get.future.add_done_callback(lambda _, g=get: setattr(g, "finished", time.monotonic()))
                    running[entry.entry_id] = get
                    started.append(get.future)
                    busy[host] += 1
                    if get.waited_for:
                        fresh.append(get)
            if not fresh:  # nothing left but stragglers and known-slow hosts: the cycle goes on without them
                break
            first_straggler = min(g.started for g in fresh) + f.straggler_seconds - time.monotonic()
            wait([g.future for g in running.values()], timeout=max(first_straggler, 0.0), return_when=FIRST_COMPLETED)
        save()
    finally:
        threads.shutdown()
        _close_when_done(client, [fut for fut in started if not fut.done()])
    left = sum(len(q) for q in queues.values())
    _logger().info("fetched %d articles: %s%s", fetched, report.articles,
                   f"; {len(running)} slow page(s) still downloading, {left} waiting for their host" if running else "")
    progress.finish(", ".join(f"{k} {v}" for k, v in sorted(report.articles.items()))
                    + (f"; {len(running)} slow page(s) still downloading" if running else ""))


def settle_stragglers(settings: Settings) -> int:
    """Wait for the page GETs this process still runs for the warehouse (each ends within fetch.timeout_seconds)
    and store their outcomes; returns how many. For a process about to exit (`newswatch run`), which would
    otherwise drop them; a long-running one (`newswatch serve`) leaves them to its next fetch stage."""
    running = _RUNNING.get(settings.warehouse.path)
    if not running:
        return 0
    wait([g.future for g in running.values()])
    outcomes = [_outcome(settings, g) for g in running.values()]
    with _wh(settings) as con:
        warehouse.articles.save_articles(con, outcomes)
    running.clear()
    return len(outcomes)


@task(name="embed-articles", cache_policy=NO_CACHE)
def embed_articles(settings: Settings, report: CycleReport, fetching: threading.Event | None = None) -> None:
    """Embed title + lead of every article without a vector, in batches (each batch committed). With `fetching`
    (the fetch stage running beside it), keep taking the articles it stores until it has finished."""
    report.embedded += _embed_pending(settings, settings.embed.model, settings.embed.lead_words, relevant_only=False,
                                      producer_done=fetching)


def _embed_pending(settings: Settings, model: str, lead_words: int, *, relevant_only: bool,
                   producer_done: threading.Event | None = None) -> int:
    """Embed articles lacking a `model` vector in batches, each batch committed (a crash loses one batch).
    With `producer_done`, articles still being stored by a concurrent stage are embedded as they arrive: the
    loop ends once that event is set and nothing is left."""
    emb = resources.embedder(model, settings.embed.batch_size)
    batch = max(settings.embed.batch_size * 4, 64)
    done = 0
    progress = StageProgress(f"embed ({emb.name})", "articles")
    while True:  # the warehouse is used for the reads and the writes only, not during the model's work
        finished = producer_done is None or producer_done.is_set()  # read before looking: no article slips by
        with _wh(settings) as con:
            chunk = warehouse.articles.pending_embeddings(con, emb.name, relevant_only=relevant_only, limit=batch)
        if chunk:
            vectors = emb.encode([embedding_text(a.title, a.text, lead_words) for a in chunk])
            with _wh(settings) as con:
                warehouse.articles.insert_embeddings(con, emb.name, [a.article_id for a in chunk], vectors, _now())
            done += len(chunk)
            _release_freed_memory()
            if progress_enabled() and not relevant_only:  # the total grows while the fetch stage stores pages
                with _wh(settings) as con:
                    progress.advance(len(chunk), total=done + warehouse.cycles.count_backlog(con, emb.name)[0])
            else:
                progress.advance(len(chunk))
        elif finished:
            break
        else:
            assert producer_done is not None
            producer_done.wait(0.2)  # the fetch stage is still storing articles
        if STOP.is_set():
            break
    if done:
        _logger().info("embedded %d articles with %s", done, emb.name)
        progress.finish(f"{done} articles")
    return done


# Articles judged (and committed) per transaction.
JUDGE_BATCH = 500


@task(name="judge-articles", cache_policy=NO_CACHE)
def judge_articles(settings: Settings, report: CycleReport) -> None:
    """Decide relevance to the topic and extract the violated state and intruder for each new article."""
    classifier = resources.classifier(settings.topic.classifier_path, settings.embed.model)
    topic = resources.topic(settings.topic.path)
    progress = StageProgress("judge", "articles")
    if progress_enabled():
        with _wh(settings) as con:
            progress.total = warehouse.cycles.count_backlog(con, settings.embed.model)[1]
    while True:  # in batches: a backlog of thousands never sits in memory at once (texts + vectors)
        with _wh(settings) as con:  # one unit of work per batch (a waiting CLI writer gets in between)
            pending = warehouse.articles.pending_judgements(con, settings.embed.model, limit=JUDGE_BATCH)
            if not pending:
                break
            out = [judge_article(classifier, topic, article.article_id, article.title, article.text, vector,
                                 article.published_at, article.lang)
                   for article, vector in pending]
            warehouse.articles.insert_judgements(con, out, _now())
            _release_freed_memory()
            report.judged += len(out)
            report.relevant += sum(j.relevant for j in out)
            progress.advance(len(out))
    progress.finish(f"{report.judged} judged, {report.relevant} relevant")


@dataclass
class _KeptIndex:
    """The incident index of the last cycle, kept in the process (`newswatch serve`, `eval`) so a cycle reads and
    indexes only the members assigned since, instead of every member in the window (about a minute at 160k)."""

    key: tuple[str, ClusterSettings, str]  # warehouse path, engine settings, model
    index: IncidentIndex
    saved_at: datetime  # assigned_at of the last save: members from then on are read again (held ones skipped)
    fingerprint: tuple[int, int]  # warehouse.incidents.assignment_fingerprint after the save: anything else changed -> rebuild


_KEPT: dict[str, _KeptIndex] = {}
_KEPT_LOCK = threading.Lock()


@task(name="assign-incidents", cache_policy=NO_CACHE)
def assign_incidents(settings: Settings, report: CycleReport) -> None:
    """Join each relevant article (publication order) to a known incident or open a new one."""
    engine = settings.cluster
    model = cluster_model(engine)
    if model != settings.embed.model:  # the engine's own (multilingual) vectors, for relevant articles only
        report.embedded += _embed_pending(settings, model, engine.lede_words, relevant_only=True)
    key = (str(Path(settings.warehouse.path).resolve()), engine, model)
    with _KEPT_LOCK, _wh(settings) as con:
        pending = warehouse.incidents.pending_assignments(con, model)
        if not pending:
            return
        # Every relevant article may join an incident; only a readable page (a title and summary are too little to
        # tell a new incident from a follow-up) that the classifier calls a confident report, whose text names what
        # intruded and whose headline names a state or an intruder (responses and policy pieces often name
        # neither), may open one.
        topic = resources.topic(settings.topic.path)
        items = [StreamItem(a.article_id, a.published_at, a.title, a.text, v,
                            may_open=a.status == "ok" and j.report and j.intruder is not None
                            and headline_names_event(topic, a.title),
                            lang=a.lang, country=j.country, event_day=j.event_day)
                 for a, v, j in pending]
        since = members_since(items, engine)
        assert since is not None
        kept = _KEPT.pop(key[0], None)  # dropped until this cycle's save succeeds
        if kept is not None and kept.key == key and kept.fingerprint == warehouse.incidents.assignment_fingerprint(con):
            doc_freq = kept.index.doc_freq
            index = build_index(engine, doc_freq, warehouse.incidents.read_members(con, since, model, assigned_since=kept.saved_at),
                                index=kept.index)
        else:
            n_docs, rows = warehouse.incidents.read_doc_freq(con)
            doc_freq = DocFreq.from_rows(n_docs, rows)
            index = build_index(engine, doc_freq, warehouse.incidents.read_members(con, since, model))
        records = assign_stream(index, items, topic.later_stage)
        by_id = {a.article_id: (a, j) for a, _, j in pending}
        incidents = []
        for r in records:
            if r.opened:
                article, judgement = by_id[r.article_id]
                incidents.append(IncidentRecord(r.incident_id, article.title, article.article_id,
                                                article.published_at, judgement.country, judgement.intruder))
        saved_at = _now()
        warehouse.incidents.save_assignments(con, incidents, records, (doc_freq.n_docs, doc_freq.changed_rows()), saved_at)
        doc_freq.mark_saved()
        _KEPT[key[0]] = _KeptIndex(key, index, saved_at, warehouse.incidents.assignment_fingerprint(con))
    report.assigned = len(records)
    report.incidents_opened = len(incidents)
    StageProgress("assign", "articles").finish(f"{report.assigned} assigned, {report.incidents_opened} incidents "
                                                "opened")


@task(name="raise-alerts", cache_policy=NO_CACHE)
def raise_alerts(settings: Settings, report: CycleReport) -> None:
    """One outbox row per new incident and channel that wants it (channel filters: pipeline/outbox.py); the log
    channel is delivered at once (logged and returned), e-mail and webhook rows by the deliver-outbox task."""
    log = _logger()
    with _wh(settings) as con:
        for channel in settings.alerts.channels:
            fresh = warehouse.outbox.unalerted_incidents(con, channel.name)
            facts = warehouse.outbox.read_incident_facts(con, [i.incident_id for i in fresh])
            wanted = [f.incident_id for f in facts if channel_wants(channel, f)]
            warehouse.outbox.insert_alerts(con, wanted, channel.name, _now())
        for channel in settings.alerts.channels:
            if channel.type != "log":
                continue  # e-mail and webhook delivery: see the outbox stage
            for alert in warehouse.outbox.read_alerts(con, status="pending", channel=channel.name):
                log.warning("ALERT %s", alert_text.alert_subject(alert), extra={PRINTED: True})
                warehouse.outbox.mark_alert_delivery(con, alert.alert_id, status="sent", at=_now())
                report.alerts.append(alert)


def register_channels(settings: Settings, report: CycleReport) -> None:
    """Before anything is ingested: a channel added to the config alerts only incidents opened from now on.
    A plain call in the flow, not a task run: a few milliseconds of work that a task run's bookkeeping (~25 ms)
    would multiply on every quiet cycle."""
    with _wh(settings) as con:
        new = warehouse.outbox.register_channels(con, [(c.name, c.type) for c in settings.alerts.channels], _now())
    if new:
        _logger().info("new alert channel(s) %s: alerting incidents opened from now on", ", ".join(new))


@task(name="publish-snapshot", cache_policy=NO_CACHE)
def publish_snapshot(settings: Settings, report: CycleReport | None = None) -> None:
    """Publish the analysts' read-only copy (docs/operations.md: readers never hold the live file). After a quiet
    cycle (`report` shows nothing ingested) a snapshot younger than warehouse.snapshot_max_age_minutes is kept:
    copying the whole file would be most of an idle cycle's cost."""
    if report is not None and not _snapshot_due(settings, report):
        return
    with _wh(settings) as con:
        warehouse.queries.publish_snapshot(con, settings.warehouse.path)


def _snapshot_due(settings: Settings, report: CycleReport) -> bool:
    """False after a quiet cycle while the snapshot is younger than warehouse.snapshot_max_age_minutes."""
    if not report.quiet():
        return True
    snapshot = warehouse.paths.snapshot_path(settings.warehouse.path)
    max_age = settings.warehouse.snapshot_max_age_minutes * 60.0
    return not (snapshot.exists() and time.time() - snapshot.stat().st_mtime < max_age)


# Set by `newswatch serve` on Ctrl-C / SIGTERM: the running cycle stops at the next stage boundary.
STOP = threading.Event()


def _pending_work(settings: Settings, report: CycleReport) -> tuple[bool, bool]:
    """After the poll: (anything to fetch, embed, judge or assign; any alert to raise). A quiet cycle skips the
    stages with nothing to do: each task run costs Prefect bookkeeping, most of an idle cycle."""
    with _wh(settings) as con:
        ingest = bool(report.new_entries) or warehouse.cycles.has_pending_ingest(con, _now(), settings.embed.model)
        # an incident left unalerted (a crash after assign, or one a channel's filters skip) keeps the stage on
        alerting = ingest or any(warehouse.outbox.unalerted_incidents(con, c.name) for c in settings.alerts.channels) or any(
            warehouse.outbox.read_alerts(con, status="pending", channel=c.name) for c in settings.alerts.channels
            if c.type == "log")
    return ingest, alerting


def _fetch_and_embed(settings: Settings, report: CycleReport) -> None:
    """Fetch+extract in a worker while the model embeds what has been stored so far: the network and the
    parser wait behind the model instead of before it. The two stages meet only at the articles table."""
    fetched = threading.Event()
    fetching = fetch_articles.submit(quote(settings), quote(report), fetched)
    try:
        embed_articles(quote(settings), quote(report), fetched)
    finally:
        fetching.wait()
    fetching.result()  # a fetch stage that could not run (warehouse busy) fails the cycle, as before


class CycleFailed(NewswatchError):
    """A stage raised and the cycle stopped there. `report` holds what the cycle did until then (with
    `failed_stage` and `error` set); `cause` is the stage's own error (WarehouseBusy: `serve` retries soon)."""

    def __init__(self, report: CycleReport, cause: BaseException) -> None:
        self.report = report
        self.cause = cause
        where = "could not start" if report.failed_stage == "register" else f"stopped in its {report.failed_stage} stage"
        super().__init__(f"the cycle {where}: {cause}")


_STAGE_NAMES = {"register_channels": "register", "poll-feeds": "poll", "_fetch_and_embed": "fetch+embed",
                "judge-articles": "judge", "assign-incidents": "assign", "raise-alerts": "alerts"}


def _stage_name(stage: Any) -> str:
    return _STAGE_NAMES.get(getattr(stage, "name", None) or stage.__name__, str(stage))


def _cycle_record(report: CycleReport, cycle_id: str, started: datetime) -> CycleRecord:
    return CycleRecord(
        cycle_id, started, _now(), report.outcome, report.failed_stage, report.error, report.feeds_due,
        report.feeds_ok, report.feeds_not_modified, len(report.feeds_failed), report.feeds_muted,
        report.feeds_backing_off, report.new_entries, sum(report.articles.values()), report.relevant,
        report.incidents_opened, len(report.alerts))


def _record_failed_cycle(settings: Settings, record: CycleRecord) -> None:
    """Best effort, without waiting: the failure may be that the warehouse is held or unusable."""
    try:
        with warehouse.connection.open_warehouse(settings.warehouse.path, busy_timeout_seconds=0.0, create=False) as con:
            warehouse.cycles.insert_cycle(con, record)
    except NewswatchError as exc:
        _logger().info("cycle not recorded: %s", exc)


@flow(name="newswatch-cycle", log_prints=False, validate_parameters=False)
async def monitor_cycle(settings: Settings) -> CycleReport:
    """One full monitor cycle. Feed and page failures are recorded, not raised; a stage that cannot run (warehouse
    busy past its timeout, model missing) stops the cycle with CycleFailed. Every cycle that ends or fails is
    recorded in the `cycles` table (`newswatch status`). Stops between stages when STOP is set (each stage has
    committed its work, so the next cycle resumes where this one stopped).

    An async flow whose stages are sync tasks run one after another: Prefect ends a sync flow by joining its
    heartbeat thread, which sleeps in 1 s steps (about 1 s a cycle, half of an idle cycle's cost); an async flow
    does not wait for it. Call `run_cycle` from sync code."""
    report = CycleReport()
    cycle_id, started = uuid.uuid4().hex, _now()
    # Prefect walks every task argument looking for futures (500 feeds in the settings: tens of ms a task run):
    # quoted, they are passed through as they are.
    args = (quote(settings), quote(report))
    stage_name = "register"
    try:
        # One Prefect API client for all the cycle's sync tasks (the caller's, see api_client); otherwise each task
        # run builds its own (and a TLS context with it, ~25 ms).
        # The warehouse held open for the whole cycle: every stage's own connection then reuses the open database
        # (~0.05 ms) instead of opening the file again (~20 ms: catalog and WAL read). A process waiting for the
        # file (`newswatch mute`, feedback, `sql --live`) gets it between two units of work of the current stage.
        with api_client(), resources.hold_warehouse(settings):
            ingest = alerting = True
            for stage in (register_channels, poll_feeds, _fetch_and_embed, judge_articles, assign_incidents,
                          raise_alerts):
                if STOP.is_set():
                    report.stopped = True
                    return report
                if stage in (_fetch_and_embed, judge_articles, assign_incidents) and not ingest:
                    continue  # a quiet cycle: nothing to fetch, embed, judge or assign
                if stage is raise_alerts and not alerting:
                    continue
                stage_name = _stage_name(stage)
                if stage in (register_channels, _fetch_and_embed):  # plain calls: the values, not quoted
                    stage(settings, report)
                else:
                    stage(*args)
                if stage is poll_feeds:
                    ingest, alerting = _pending_work(settings, report)
            if not STOP.is_set() and delivery_channels(settings):
                stage_name = "deliver"
                delivery = deliver_stage(args[0])  # e-mail and webhook outboxes (the log channel was printed above)
                report.delivered = bool(delivery.sent or delivery.retrying or delivery.failed
                                        or delivery.digests_queued)
            stage_name = "record"
            with _wh(settings) as con:  # recorded before the snapshot, so the snapshot shows this cycle
                warehouse.cycles.insert_cycle(con, _cycle_record(report, cycle_id, started))
            stage_name = "snapshot"
            if _snapshot_due(settings, report):
                publish_snapshot(*args)
    except NewswatchError as exc:
        report.failed_stage, report.error = stage_name, " ".join(str(exc).split())
        _record_failed_cycle(settings, _cycle_record(report, cycle_id, started))
        raise CycleFailed(report, exc) from exc
    except Exception as exc:  # a bug: recorded, and raised as it is (its traceback is wanted)
        report.failed_stage, report.error = stage_name, f"{type(exc).__name__}: {exc}"
        _record_failed_cycle(settings, _cycle_record(report, cycle_id, started))
        raise
    return report


def api_client() -> Any:
    """A context in which Prefect's API calls share one client (`serve` holds one for all its cycles). Prefect
    otherwise builds a client, and a TLS context with it (~25 ms: certifi's bundle parsed), for the flow's
    result-store lookup and for the cycle's tasks, every cycle, even for a local http:// API."""
    return SyncClientContext.get_or_create()


def run_cycle(settings: Settings, *, settle: bool = True) -> CycleReport:
    """Run `monitor_cycle` from sync code (the CLI, `serve`, the replay) on a fresh event loop. Not
    `asyncio.run`: it would take over Ctrl-C and only cancel the flow at its next await, while the stages are
    sync code that would run on; here Ctrl-C interrupts as in any sync call (`serve` installs its own handler).
    With `settle` (a process about to exit), slow pages still downloading are waited for and stored after the
    cycle, its alerts already out (settle_stragglers); `serve` passes False and its next cycle stores them."""
    loop = asyncio.new_event_loop()
    try:
        with api_client():  # entered before the flow starts, so the flow engine's own lookups use it too
            report = loop.run_until_complete(monitor_cycle(settings))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    if settle:
        settle_stragglers(settings)
    return report


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)

"""The monitor cycle's stages as Prefect tasks: poll, fetch+extract, embed, judge, assign, alert, snapshot. Each
opens the warehouse for its units of work, calls library functions, stores what they return and returns its
result to the flow (flows/cycle.py). Composition only: the rules are pipeline/'s, the SQL warehouse/'s."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

import warehouse.articles
import warehouse.connection
import warehouse.cycles
import warehouse.feeds
import warehouse.incidents
import warehouse.outbox
import warehouse.paths
import warehouse.queries
from flows import resources
from flows.progress import PRINTED, StageProgress
from flows.progress import enabled as progress_enabled
from pipeline import alerts as alert_text
from pipeline import feeds as feed_stage
from pipeline import judge, retry
from pipeline.assign import assign_stream, build_index, members_since
from pipeline.clustering import cluster_model
from pipeline.cycle_report import AssignResult, CycleReport, JudgeResult, PollResult, attach_partial
from pipeline.embed import embedding_text
from pipeline.errors import FetchFailed, TransientError
from pipeline.lexical import DocFreq
from pipeline.memory import release_freed_memory
from pipeline.models import Alert, FeedEntry, FeedPoll, FetchOutcome
from pipeline.outbox import channel_wants
from pipeline.page_gets import FetchRound, PageGet, close_when_done, fetch_and_extract
from pipeline.settings import Settings

_wh = resources.warehouse  # every stage's connection, with the service's DuckDB limits


def _now() -> datetime:
    return datetime.now(UTC)


def run_logger(outside: str = "newswatch") -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's logger of the running flow or task (its lines reach the Prefect UI); the logger named `outside`
    outside a run."""
    try:
        return get_run_logger()
    except Exception:  # outside a run (task.fn in tests)
        return logging.getLogger(outside)


@contextmanager
def _partial(so_far: Callable[[], Any]) -> Iterator[None]:
    """An error inside carries the stage's result so far (pipeline/cycle_report.attach_partial): what a stage
    stored before it stopped stays stored, so the cycle's report counts it."""
    try:
        yield
    except Exception as exc:
        attach_partial(exc, so_far())
        raise


def register_channels(settings: Settings) -> None:
    """Before anything is ingested: a channel added to the config alerts only incidents opened from now on.
    A plain call in the flow, not a task run: a few milliseconds of work that a task run's bookkeeping would
    multiply on every quiet cycle."""
    with _wh(settings) as con:
        new = warehouse.outbox.register_channels(con, [(c.name, c.type) for c in settings.alerts.channels], _now())
    if new:
        run_logger().info("new alert channel(s) %s: alerting incidents opened from now on", ", ".join(new))


@task(name="poll-feeds", cache_policy=NO_CACHE)
def poll_feeds(settings: Settings) -> PollResult:
    """Conditional GET of every configured or added feed that is due; failures are recorded per feed (with their
    backoff: pipeline/retry.py), never raised."""
    log = run_logger()
    with _wh(settings) as con:
        # added feeds are read afresh every cycle: a running service polls one from its next cycle on
        sources = feed_stage.feed_sources(settings.feeds, warehouse.feeds.read_subscriptions(con))
        warehouse.feeds.upsert_feeds(con, sources)
        muted = warehouse.feeds.muted_feeds(con)
        polled = [s for s in sources if s.name not in muted]  # an analyst muted them (`newswatch mute`)
        states = {s.name: s for s in warehouse.feeds.read_feed_states(con, [s.name for s in polled])}
    now = _now()
    due = [s for s in polled if states[s.name].next_poll_at is None or states[s.name].next_poll_at <= now]
    progress = StageProgress("poll", "feeds", len(due))
    with resources.http_client(settings) as client:
        results = feed_stage.poll_sources(client, due, states, settings.fetch, progress.advance)
    # Every outcome is written at the end in one transaction (hundreds of feeds cost one commit, not hundreds).
    polls: list[FeedPoll] = []
    bodies: list[tuple[str, bytes, str | None, datetime]] = []
    entries: list[FeedEntry] = []
    failed: dict[str, str] = {}
    backoff = retry.for_feeds(settings.fetch)  # retried forever, never dropped
    new_entries = 0

    def so_far() -> PollResult:
        statuses = Counter(p.status for p in polls)
        return PollResult(len(due), statuses["ok"], statuses["not_modified"], failed, len(sources) - len(polled),
                          len(polled) - len(due), new_entries)

    for source, resp, parsed, error in results:
        at = _now()
        if error is not None:
            reason = error.reason if isinstance(error, FetchFailed) else "malformed"
            retry_after = error.retry_after_seconds if isinstance(error, FetchFailed) else None
            next_poll = backoff.next_attempt_at(states[source.name].consecutive_failures + 1, at, retry_after)
            polls.append(FeedPoll(source.name, at, reason, str(error), None, None, next_poll))
            failed[source.name] = str(error)
            log.warning("feed %s failed: %s", source.name, error, extra={PRINTED: True})
        elif parsed is None:
            assert resp is not None
            polls.append(FeedPoll(source.name, at, "not_modified", None, resp.etag, resp.last_modified, None))
        else:
            assert resp is not None
            bodies.append((source.name, resp.body or b"", resp.content_type, at))
            entries.extend(parsed.entries)
            polls.append(FeedPoll(source.name, at, "ok", parsed.bozo_reason, resp.etag, resp.last_modified,
                                        None))
    # a feed's new validators (ETag) are stored only together with its entries
    with _partial(so_far), _wh(settings) as con, warehouse.connection.transaction(con):
        warehouse.feeds.insert_feed_bodies(con, bodies)
        new_entries = warehouse.articles.upsert_entries(con, entries, _now())
        warehouse.feeds.mark_feeds_polled(con, polls)
    result = so_far()
    log.info("polled %d feeds: %d ok, %d not modified, %d failed, %d new entries", len(due), result.feeds_ok,
             result.feeds_not_modified, len(failed), new_entries)
    progress.finish(f"{result.feeds_ok} ok, {result.feeds_not_modified} unchanged, {len(failed)} failed, "
                    f"{result.feeds_muted} muted, {result.feeds_backing_off} backing off; {new_entries} new entries")
    return result


# Fetched pages are stored in batches of this many (one transaction each): a crash loses at most one batch of
# fetches, which the next cycle simply repeats.
FETCH_SAVE_BATCH = 64


def _outcome(settings: Settings, get: PageGet) -> FetchOutcome:
    """The finished GET as a row to store; a transient failure gets its retry time (none when its tries are used
    up: pipeline/retry.py)."""
    entry, page, extraction, failure = get.future.result()
    now = _now()
    retry_at = (retry.for_pages(settings.fetch).next_attempt_at(get.attempts_before + 1, now,
                                                                failure.retry_after_seconds)
                if isinstance(failure, TransientError) else None)
    return FetchOutcome(entry, page, extraction, now, retry_at)


@task(name="fetch-articles", cache_policy=NO_CACHE)
def fetch_articles(settings: Settings, done: threading.Event | None = None) -> dict[str, int]:
    """Fetch and extract every entry that has no article yet (pipeline/page_gets.py); each outcome (ok or why
    not) is stored, in small batches so the embedding stage can start on them while the rest is fetched. Returns
    the articles stored by status; sets `done` when finished. Ends without waiting for stragglers."""
    try:
        return _fetch_pending(settings)
    finally:
        if done is not None:
            done.set()


def _fetch_pending(settings: Settings) -> dict[str, int]:
    gets = resources.page_gets(settings.warehouse.path)
    with _wh(settings) as con:
        pending = [e for e in warehouse.articles.pending_entries(con, _now()) if e.entry_id not in gets.running]
        attempts = warehouse.articles.read_fetch_attempts(con, [e.entry_id for e in pending])
    if not pending and not gets.running:
        return {}
    progress = StageProgress("fetch", "pages", len(pending) + len(gets.running))
    articles: Counter[str] = Counter()
    batch: list[FetchOutcome] = []

    def save() -> None:
        if batch:
            with _wh(settings) as con:
                warehouse.articles.save_articles(con, batch)
        articles.update(outcome.extraction.status for outcome in batch)
        batch.clear()
        release_freed_memory()  # the batch's page bodies

    extracting = threading.Lock()
    client = resources.http_client(settings)
    with _partial(lambda: dict(articles)), \
            FetchRound(gets, settings, lambda entry: fetch_and_extract(client, settings, entry, extracting)) as round_:
        try:
            for finished in round_.finished_gets(pending, attempts):
                batch.extend(_outcome(settings, get) for get in finished)
                if finished:
                    progress.advance(len(finished))
                if len(batch) >= FETCH_SAVE_BATCH:
                    save()
            save()
        finally:
            close_when_done(client, round_.unfinished())
    running = len(gets.running)
    run_logger().info("fetched %d articles: %s%s", sum(articles.values()), dict(articles),
                   f"; {running} slow page(s) still downloading, {round_.left} waiting for their host"
                   if running else "")
    progress.finish(", ".join(f"{k} {v}" for k, v in sorted(articles.items()))
                    + (f"; {running} slow page(s) still downloading" if running else ""))
    return dict(articles)


def settle_stragglers(settings: Settings) -> int:
    """Wait for the page GETs this process still runs for the warehouse (each ends within fetch.timeout_seconds)
    and store their outcomes; returns how many. For a process about to exit (`newswatch run`), which would
    otherwise drop them; a long-running one (`newswatch serve`) leaves them to its next fetch stage."""
    gets = resources.running_page_gets(settings.warehouse.path)
    if gets is None or not gets.running:
        return 0
    wait([g.future for g in gets.running.values()])
    outcomes = [_outcome(settings, g) for g in gets.running.values()]
    with _wh(settings) as con:
        warehouse.articles.save_articles(con, outcomes)
    gets.running.clear()
    return len(outcomes)


@task(name="embed-articles", cache_policy=NO_CACHE)
def embed_articles(settings: Settings, fetching: threading.Event | None = None) -> int:
    """Embed title + lead of every article without a vector, in batches (each batch committed); returns how many.
    With `fetching` (the fetch stage running beside it), keep taking the articles it stores until it has finished."""
    return _embed_pending(settings, settings.embed.model, settings.embed.lead_words, relevant_only=False,
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
            release_freed_memory()
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
        if resources.STOP.is_set():
            break
    if done:
        run_logger().info("embedded %d articles with %s", done, emb.name)
        progress.finish(f"{done} articles")
    return done


# Articles judged (and committed) per transaction.
JUDGE_BATCH = 500


@task(name="judge-articles", cache_policy=NO_CACHE)
def judge_articles(settings: Settings) -> JudgeResult:
    """Decide relevance to the topic and extract the violated state and intruder for each new article."""
    classifier = resources.classifier(settings.topic.classifier_path, settings.embed.model)
    topic = resources.topic(settings.topic.path)
    progress = StageProgress("judge", "articles")
    if progress_enabled():
        with _wh(settings) as con:
            progress.total = warehouse.cycles.count_backlog(con, settings.embed.model)[1]
    judged = relevant = 0
    with _partial(lambda: JudgeResult(judged, relevant)):
        while True:  # in batches: a backlog of thousands never sits in memory at once (texts + vectors)
            with _wh(settings) as con:  # one unit of work per batch (a waiting CLI writer gets in between)
                pending = warehouse.articles.pending_judgements(con, settings.embed.model, limit=JUDGE_BATCH)
                if not pending:
                    break
                out = judge.judge_articles(classifier, topic, pending)
                warehouse.articles.insert_judgements(con, out, _now())
                release_freed_memory()
                judged += len(out)
                relevant += sum(j.relevant for j in out)
                progress.advance(len(out))
    progress.finish(f"{judged} judged, {relevant} relevant")
    return JudgeResult(judged, relevant)


@task(name="assign-incidents", cache_policy=NO_CACHE)
def assign_incidents(settings: Settings) -> AssignResult:
    """Join each relevant article (publication order) to a known incident or open a new one (the rules:
    pipeline/judge.py); the incident index is kept in the process between cycles (flows/resources.py)."""
    engine = settings.cluster
    model = cluster_model(engine)
    embedded = 0
    if model != settings.embed.model:  # the engine's own (multilingual) vectors, for relevant articles only
        embedded = _embed_pending(settings, model, engine.lede_words, relevant_only=True)
    key = (str(Path(settings.warehouse.path).resolve()), engine, model)
    with resources.KEPT_LOCK, _wh(settings) as con:
        pending = warehouse.incidents.pending_assignments(con, model)
        if not pending:
            return AssignResult(embedded=embedded)
        topic = resources.topic(settings.topic.path)
        items = judge.stream_items(topic, pending)
        since = members_since(items, engine)
        assert since is not None
        kept = resources.take_kept_index(key[0])  # kept again only once this cycle's save succeeds
        if (kept is not None and kept.key == key
                and kept.fingerprint == warehouse.incidents.assignment_fingerprint(con)):
            doc_freq = kept.index.doc_freq
            members = warehouse.incidents.read_members(con, since, model, assigned_since=kept.saved_at)
            index = build_index(engine, doc_freq, members, index=kept.index)
        else:
            n_docs, rows = warehouse.incidents.read_doc_freq(con)
            doc_freq = DocFreq.from_rows(n_docs, rows)
            index = build_index(engine, doc_freq, warehouse.incidents.read_members(con, since, model))
        records = assign_stream(index, items, topic.later_stage)
        incidents = judge.opened_incidents(records, pending)
        saved_at = _now()
        warehouse.incidents.save_assignments(con, incidents, records, (doc_freq.n_docs, doc_freq.changed_rows()),
                                             saved_at)
        doc_freq.mark_saved()
        fingerprint = warehouse.incidents.assignment_fingerprint(con)
        resources.keep_index(resources.KeptIndex(key, index, saved_at, fingerprint))
    StageProgress("assign", "articles").finish(f"{len(records)} assigned, {len(incidents)} incidents opened")
    return AssignResult(len(records), len(incidents), embedded)


@task(name="raise-alerts", cache_policy=NO_CACHE)
def raise_alerts(settings: Settings) -> list[Alert]:
    """One outbox row per new incident and channel that wants it (channel filters: pipeline/outbox.py); the log
    channel is delivered at once (logged and returned), e-mail and webhook rows by the deliver-outbox task."""
    log = run_logger()
    sent: list[Alert] = []
    with _partial(lambda: list(sent)), _wh(settings) as con:  # alerts logged before an error are still reported
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
                sent.append(alert)
    return sent


@task(name="publish-snapshot", cache_policy=NO_CACHE)
def publish_snapshot(settings: Settings, report: CycleReport | None = None) -> None:
    """Publish the analysts' read-only copy (docs/operations.md: readers never hold the live file). After a quiet
    cycle (`report` shows nothing ingested) a snapshot younger than warehouse.snapshot_max_age_minutes is kept:
    copying the whole file would be most of an idle cycle's cost."""
    if report is not None and not snapshot_due(settings, report):
        return
    with _wh(settings) as con:
        warehouse.queries.publish_snapshot(con, settings.warehouse.path)


def snapshot_due(settings: Settings, report: CycleReport) -> bool:
    """False after a quiet cycle while the snapshot is younger than warehouse.snapshot_max_age_minutes."""
    if not report.quiet():
        return True
    snapshot = warehouse.paths.snapshot_path(settings.warehouse.path)
    max_age = settings.warehouse.snapshot_max_age_minutes * 60.0
    return not (snapshot.exists() and time.time() - snapshot.stat().st_mtime < max_age)

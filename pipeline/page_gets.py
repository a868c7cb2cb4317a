"""Page GETs of the fetch stage in threads: entries go out one host at a time in turn (oldest entry first), at most
fetch.concurrency GETs at a time and fetch.per_host_concurrency per host, so the pages of healthy hosts never
queue behind a slow one. A GET running longer than fetch.straggler_seconds is a straggler: it no longer counts
against the concurrency, and once only stragglers (and their hosts' queued pages) are left, the round ends; its
host is remembered as slow, and its next GETs are not waited for at all. Stragglers finish in their threads and
are handed out by the next round (or settled by the caller), queued pages stay pending: nothing is lost.

No database: the caller stores what the rounds hand out. The GET and the extraction are pipeline.web's and
pipeline.extract's.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

from pipeline import web
from pipeline.errors import FetchFailed
from pipeline.extract import extract_article
from pipeline.models import Extraction, FeedEntry, Page
from pipeline.settings import Settings

# (entry, page or None, extraction, the GET's failure or None)
PageResult = tuple[FeedEntry, Page | None, Extraction, FetchFailed | None]


def fetch_and_extract(client: web.Client, settings: Settings, entry: FeedEntry, extracting: threading.Lock
                      ) -> PageResult:
    """GET the entry's page and extract it. The page is extracted one at a time (`extracting`): extraction is
    Python holding the GIL, and threads taking turns at it only slowed each other and the model beside them
    (benchmarks/PERFORMANCE.md). GETs stay concurrent. A failed GET is judged on the feed's title and summary."""
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


@dataclass
class PageGet:
    """One page GET running in a fetch thread. Kept in PageGets.running until its outcome is handed out, so a GET
    that outlives its round (a straggler) is handed out by the next one."""

    entry: FeedEntry
    host: str
    attempts_before: int  # fetch attempts before this one (its retry delay doubles with them)
    waited_for: bool  # False for a host known to be slow: the round does not wait for it
    started: float  # time.monotonic()
    future: Future[PageResult]
    finished: float | None = None  # time.monotonic(), set when the future completes

    def mark_finished(self, _: Future[PageResult]) -> None:
        self.finished = time.monotonic()

    def straggling(self, now: float, straggler_seconds: float) -> bool:
        """Whether it ran (or has been running) for straggler_seconds or more."""
        return (self.finished or now) - self.started >= straggler_seconds


@dataclass
class PageGets:
    """The page GETs one process runs for one warehouse, kept from round to round (flows/resources.py)."""

    running: dict[str, PageGet] = field(default_factory=dict)  # by entry id
    # Hosts whose last page GET straggled: their next GETs are started but not waited for, so a host that stays
    # slow does not hold every round for fetch.straggler_seconds. A GET of theirs that finishes in time takes
    # them off the list.
    slow_hosts: set[str] = field(default_factory=set)


class GetThreads:
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


def close_when_done(client: web.Client, futures: Sequence[Future[Any]]) -> None:
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


class FetchRound:
    """One fetch stage's GETs (see the module docstring). Use as a context manager: leaving it starts no new GET
    and lets the running ones finish in their threads."""

    def __init__(self, gets: PageGets, settings: Settings, get_page: Callable[[FeedEntry], PageResult]) -> None:
        self.gets = gets
        self.fetch = settings.fetch
        self.get_page = get_page
        self.threads = GetThreads(self.fetch.concurrency)
        self.started: list[Future[PageResult]] = []  # this round's GETs
        self.left = 0  # entries still queued for their host when the round ended

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.threads.shutdown()

    def unfinished(self) -> list[Future[PageResult]]:
        """This round's GETs still running."""
        return [fut for fut in self.started if not fut.done()]

    def finished_gets(self, pending: Sequence[FeedEntry], attempts: Mapping[str, int]) -> Iterator[list[PageGet]]:
        """Start the GETs of `pending` (entries not running already) and yield the GETs that finished, a sweep at
        a time (earlier rounds' stragglers among them), each taken out of `gets.running`; ends when nothing is
        left to wait for."""
        f, running, slow_hosts = self.fetch, self.gets.running, self.gets.slow_hosts
        queues: dict[str, deque[FeedEntry]] = defaultdict(deque)  # by host, in order of their oldest entry
        for entry in pending:
            queues[urlsplit(entry.url).netloc].append(entry)
        busy = Counter(get.host for get in running.values())  # GETs per host, earlier rounds' stragglers included
        while True:
            now = time.monotonic()
            finished = []
            for get in list(running.values()):
                done = get.future.done()
                if get.straggling(now, f.straggler_seconds):
                    slow_hosts.add(get.host)
                elif done:
                    slow_hosts.discard(get.host)  # answered in time: no longer slow
                if done:
                    del running[get.entry.entry_id]
                    busy[get.host] -= 1
                    finished.append(get)
            yield finished
            fresh = [g for g in running.values() if g.waited_for and not g.straggling(now, f.straggler_seconds)]
            while len(fresh) < f.concurrency:  # start GETs, one host at a time in turn
                hosts = [h for h in queues if busy[h] < f.per_host_concurrency]
                if not hosts:
                    break
                for host in hosts[:f.concurrency - len(fresh)]:
                    entry = queues[host].popleft()
                    if not queues[host]:
                        del queues[host]
                    get = PageGet(entry, host, attempts.get(entry.entry_id, 0), host not in slow_hosts,
                                  time.monotonic(), self.threads.submit(self.get_page, entry))
                    get.future.add_done_callback(get.mark_finished)
                    running[entry.entry_id] = get
                    self.started.append(get.future)
                    busy[host] += 1
                    if get.waited_for:
                        fresh.append(get)
            if not fresh:  # nothing left but stragglers and known-slow hosts: the round ends without them
                break
            first_straggler = min(g.started for g in fresh) + f.straggler_seconds - time.monotonic()
            wait([g.future for g in running.values()], timeout=max(first_straggler, 0.0), return_when=FIRST_COMPLETED)
        self.left = sum(len(q) for q in queues.values())

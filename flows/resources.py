"""Process-wide resources built once at the entry point and reused between cycles (the model stays loaded), and the
process's state between cycles: the stop signal, the page GETs still running, the kept incident index."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pipeline import web
from pipeline.embed import Embedder, load_embedder
from pipeline.errors import ConfigInvalid
from pipeline.incidents import ClusterSettings, IncidentIndex
from pipeline.page_gets import PageGets
from pipeline.proxies import ProxyRoutes
from pipeline.relevance import ReportClassifier, load_classifier
from pipeline.settings import Settings
from pipeline.topics import Topic, load_topic
from warehouse import connection


@lru_cache(maxsize=4)
def embedder(model: str, batch_size: int) -> Embedder:
    return load_embedder(model, batch_size)


@lru_cache(maxsize=8)
def topic(path: str) -> Topic:
    return load_topic(path)


@lru_cache(maxsize=8)
def classifier(path: str, model: str) -> ReportClassifier:
    """The topic's report classifier; ConfigInvalid (topic.classifier) when it is missing, unreadable or trained
    on another embedding model than `model`."""
    try:
        found = load_classifier(path)
    except FileNotFoundError as exc:
        raise ConfigInvalid("config", "topic.classifier",
                            f"{path}: no such file; train one with `newswatch topic train`") from exc
    except (OSError, ValueError) as exc:
        raise ConfigInvalid("config", "topic.classifier", str(exc)) from exc
    if found.model != model:
        raise ConfigInvalid("config", "topic.classifier",
                            f"{path} was trained on {found.model!r} but embed.model is {model!r}; retrain it with "
                            "`newswatch topic train`")
    return found


def http_client(settings: Settings) -> web.Client:
    """A keep-alive client for GETs as a cycle makes them: fetch.timeout_seconds, user agent, extra CAs
    (fetch.ca_file) and proxies (fetch.proxy, HTTPS_PROXY / HTTP_PROXY / NO_PROXY); the caller closes it."""
    fetch = settings.fetch
    return web.make_client(fetch.timeout_seconds, fetch.user_agent, ca_file=fetch.ca_file,
                           proxies=ProxyRoutes.from_settings(fetch.proxy, os.environ))


def _open(settings: Settings) -> AbstractContextManager[Any]:
    w = settings.warehouse
    return connection.open_warehouse(w.path, busy_timeout_seconds=w.busy_timeout_seconds,
                                memory_limit_mb=w.memory_limit_mb, threads=w.threads)


# The holds of the cycles running in this process, by warehouse path (see hold_warehouse).
_HOLDS: dict[str, _Hold] = {}

# How long a hold, having closed the file for a waiting opener, waits for it to get in before going on.
HANDOVER_SECONDS = 5.0
# How often a hold looks for waiting openers while no unit starts or ends (a model batch, a network wait).
WATCH_SECONDS = 0.2


class _Hold:
    """The warehouse kept open across a cycle's units of work, and handed to any other process waiting for it
    (connection.openers_waiting) whenever no unit is running: a unit is one stage's short stretch of reads and writes,
    never a network wait or a model batch. Looked for when a unit starts or ends, and every WATCH_SECONDS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.warehouse.path
        self.keeper: Any = None  # the connection that keeps the database open between units
        self.active = 0  # units running (stages run concurrently: fetch beside embed)
        self.cond = threading.Condition()
        self.handovers = 0
        self.closed = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="warehouse-hold", daemon=True)

    def _watch(self) -> None:
        """Hand over between units too: a model batch or a network wait can pass with no unit starting or ending
        (one flock test every WATCH_SECONDS, a cheap system call)."""
        while not self.closed.wait(WATCH_SECONDS):
            if connection.openers_waiting(self.path):
                with self.cond:
                    self._hand_over_if_asked()

    @contextmanager
    def unit(self) -> Iterator[Any]:
        with self.cond:
            self._hand_over_if_asked()
            if self.keeper is None:  # waits (up to the busy timeout) while the opener we let in is done
                self.keeper = connection.connect(self.path, busy_timeout_seconds=self.settings.warehouse.busy_timeout_seconds,
                                            memory_limit_mb=self.settings.warehouse.memory_limit_mb,
                                            threads=self.settings.warehouse.threads)
            self.active += 1
        try:
            with _open(self.settings) as con:  # the open database reused: no file read
                yield con
        finally:
            with self.cond:
                self.active -= 1
                self._hand_over_if_asked()

    def _hand_over_if_asked(self) -> None:
        """With no unit running and an opener waiting: close the file and give the opener time to get in (the
        caller holds `cond`, so no unit starts meanwhile)."""
        if self.active or self.keeper is None or not connection.openers_waiting(self.path):
            return
        self.keeper.close()
        self.keeper = None
        self.handovers += 1
        deadline = time.monotonic() + HANDOVER_SECONDS
        while connection.openers_waiting(self.path) and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.closed.set()
        if self.watcher.is_alive():
            self.watcher.join()
        with self.cond:
            if self.keeper is not None:
                self.keeper.close()
                self.keeper = None


@contextmanager
def hold_warehouse(settings: Settings) -> Iterator[None]:
    """Keep the warehouse open for the block (a cycle): every `warehouse(settings)` inside it reuses the open
    database instead of reading the catalog and WAL again (benchmarks/PERFORMANCE.md), and between units of work
    the file is handed to any process waiting for it, so a CLI writer waits for a unit of the current stage, not
    for the cycle. Released when the block ends."""
    if settings.warehouse.path in _HOLDS:  # nested: the outer hold serves
        yield
        return
    hold = _Hold(settings)
    _HOLDS[settings.warehouse.path] = hold
    try:
        with hold.unit():  # opens the file now: a busy warehouse fails the cycle before any work
            pass
        hold.watcher.start()
        yield
    finally:
        del _HOLDS[settings.warehouse.path]
        hold.close()


def warehouse(settings: Settings) -> AbstractContextManager[Any]:
    """A connection for one unit of work of the pipeline's own stages (cycle, outbox), with the service's DuckDB
    limits (warehouse.memory_limit_mb, warehouse.threads) and busy timeout; closed when the block ends. Keep a
    unit short (no network wait, no model batch inside): inside `hold_warehouse`, waiting openers get the file
    only between units."""
    hold = _HOLDS.get(settings.warehouse.path)
    return hold.unit() if hold is not None else _open(settings)


# Set by `newswatch serve` on Ctrl-C / SIGTERM: the running cycle stops at the next stage boundary.
STOP = threading.Event()


# The page GETs this process runs, by warehouse path: stragglers outlive their fetch stage (pipeline/page_gets.py).
_PAGE_GETS: dict[str, PageGets] = defaultdict(PageGets)


def page_gets(path: str) -> PageGets:
    return _PAGE_GETS[path]


def running_page_gets(path: str) -> PageGets | None:
    """The page GETs for the warehouse at `path`, None when this process never fetched for it."""
    return _PAGE_GETS.get(path)


@dataclass
class KeptIndex:
    """The incident index of the last cycle, kept in the process (`newswatch serve`, `eval`) so a cycle reads and
    indexes only the members assigned since, instead of every member in the window (benchmarks/PERFORMANCE.md)."""

    key: tuple[str, ClusterSettings, str]  # warehouse path, engine settings, model
    index: IncidentIndex
    saved_at: datetime  # assigned_at of the last save: members from then on are read again (held ones skipped)
    fingerprint: tuple[int, int]  # store.assignment_fingerprint after the save: anything else changed -> rebuild


_KEPT: dict[str, KeptIndex] = {}
# Held by the assign stage for its whole unit of work: one cycle at a time uses and replaces the kept index.
KEPT_LOCK = threading.Lock()


def take_kept_index(path: str) -> KeptIndex | None:
    """The kept index for the warehouse at `path`, removed: it is kept again only once a cycle's save succeeded."""
    return _KEPT.pop(path, None)


def keep_index(kept: KeptIndex) -> None:
    _KEPT[kept.key[0]] = kept

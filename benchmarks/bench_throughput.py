"""Benchmark: throughput of one monitor cycle, stage by stage, on a large synthetic stream of real article texts.

Builds `--feeds` RSS feeds of `--items` items each from the texts of ../shared/bench/gva-dev.jsonl.gz (read from
there, never copied into the repository; texts are reused with new URLs/titles when more items are asked for than
the file holds), serves feeds and HTML pages from memory on 127.0.0.1 (ETag / If-None-Match -> 304), and measures:

* a busy cycle (every article new) through the real Prefect flow `flows.cycle.monitor_cycle`, per stage from the
  task runs' timestamps (plus in-process timers around the warehouse calls, extraction and the embedders);
* embedding-only throughput of the relevance model on the same stored texts (same `embedding_text` recipe), and
  of the clustering model (e5) on a sample; e2e / embedding-only;
* idle cycles (every feed answers 304), median of `--reps`, over the busy cycle (idle_over_busy_ratio);
* `IncidentIndex.assign` latency against 1k / 10k / 100k open incidents (synthetic members: random unit vectors,
  term dicts of the real texts, all inside the window), p50/p95 in ms, and the index build time;
* peak RSS (ru_maxrss) of the pipeline part, and of the whole process (with the assign index), warehouse size.

The gva texts are about shootings: the airspace topic judges nearly all of them irrelevant, so the e5 pass and the
assignment stage barely run. `--all-relevant` forces every article relevant and a report (the judge still runs, its
verdict is overridden in-process), so the cycle pays for e5 + entity extraction + assignment on every article.

Usage:
  python benchmarks/bench_throughput.py                       # quick: 20 feeds x 25 items = 500 articles
  python benchmarks/bench_throughput.py --feeds 200 --items 50 --label 10k
  python benchmarks/bench_throughput.py --all-relevant --label all-relevant
  python benchmarks/bench_throughput.py --assign-only --ann-recall 160000 --label assign   # engine only
Writes benchmarks/results/<YYYY-MM-DD>[-<label>].json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gzip
import hashlib
import html
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "gva-dev.jsonl.gz"
RESULTS = ROOT / "benchmarks" / "results"

TARGETS = {
    "e2e_over_embed_ratio": (">=", 0.8),
    "idle_over_busy_ratio_500": ("<", 0.02),
    "assign_ms_p50_100k": ("<", 5.0),
    "peak_rss_mb_pipeline": ("<", 1430.0),  # for a 10k-article run: 1.5 GB = 1.5e9 bytes = 1,430 MiB
}


# ------------------------------------------------------------------ the synthetic stream

@dataclasses.dataclass(frozen=True)
class Article:
    feed: str
    path: str
    title: str
    text: str
    published: datetime


def read_texts(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def make_stream(rows: Sequence[dict[str, Any]], feeds: int, items: int) -> list[Article]:
    """feeds x items articles; article i reuses row i % len(rows) (copy k > 0 gets a new title and a later date)."""
    out = []
    for i in range(feeds * items):
        row = rows[i % len(rows)]
        copy = i // len(rows)
        day = date.fromisoformat(row["date"])
        published = datetime(day.year, day.month, day.day, 6 + i % 12, i % 60, tzinfo=UTC) + timedelta(days=1100 * copy)
        title = row["title"].strip() or "Untitled"
        if copy:
            title = f"{title} (update {copy})"
        feed = f"feed-{i // items:04d}"
        out.append(Article(feed, f"{feed}/a/{i:06d}.html", title, row["text"], published))
    return out


def page_html(a: Article, outlet: str) -> bytes:
    paras = [p.strip() for p in a.text.split("\n") if p.strip()]
    if len(paras) < 3:  # one long line: cut into paragraphs of ~60 words
        words = a.text.split()
        paras = [" ".join(words[i:i + 60]) for i in range(0, len(words), 60)]
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paras)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(a.title)} | {outlet}</title>'
        f'<meta property="article:published_time" content="{a.published.isoformat()}"></head><body>'
        f'<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav></header>'
        f'<main><article><h1>{html.escape(a.title)}</h1><p class="byline">By Staff Reporter</p>\n{body}\n</article>'
        f'<aside><h2>Most read</h2><ul><li><a href="/x">Other story</a></li></ul></aside></main>'
        f'<footer><p>&copy; {outlet}. All rights reserved.</p></footer></body></html>'
    ).encode()


def feed_xml(name: str, base: str, articles: Sequence[Article]) -> bytes:
    items = []
    for a in sorted(articles, key=lambda x: x.published, reverse=True):
        lead = " ".join(a.text.split()[:40])
        items.append(
            f"<item><title>{html.escape(a.title)}</title><link>{base}/{a.path}</link>"
            f'<guid isPermaLink="true">{base}/{a.path}</guid><pubDate>{format_datetime(a.published)}</pubDate>'
            f"<description>{html.escape(lead)}</description></item>")
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{name}</title>'
        f"<link>{base}/{name}/</link><description>synthetic benchmark feed</description><language>en</language>\n"
        + "\n".join(items) + "\n</channel></rss>\n"
    ).encode("utf-8")


class StreamServer:
    """Feeds and pages from memory on 127.0.0.1:<ephemeral>; conditional GET by ETag (a 304 costs one round trip).

    After `load` the server runs in a forked child process, as real feeds are served by other machines: serving
    from a thread of the measured process would charge its request handling to the pipeline (the GIL).
    `counts()` / `reset_counts()` read and clear the child's status-code counts over HTTP."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}  # path -> (body, content type, etag)
        self._counts: dict[int, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._child: int | None = None
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; with Nagle on, the body waits for the client's delayed ACK of
            # the headers (40 ms a response here). A real feed server does not stall like that.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path in ("/__counts", "/__reset"):
                    with state._lock:
                        body = json.dumps(state._counts).encode()
                        if self.path == "/__reset":
                            state._counts.clear()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                hit = state.files.get(self.path.split("?", 1)[0].lstrip("/"))
                if hit is None:
                    self._send(404, b"not found", "text/plain", None)
                elif self.headers.get("If-None-Match") == hit[2]:
                    self._send(304, b"", None, hit[2])
                else:
                    self._send(200, hit[0], hit[1], hit[2])

            def _send(self, status: int, body: bytes, ctype: str | None, etag: str | None) -> None:
                with state._lock:
                    state._counts[status] += 1
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def put(self, path: str, body: bytes, ctype: str) -> None:
        self.files[path] = (body, ctype, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')

    def load(self, articles: Sequence[Article]) -> list[tuple[str, str]]:
        """Publish the stream; returns (feed name, feed URL) pairs."""
        by_feed: dict[str, list[Article]] = defaultdict(list)
        for a in articles:
            by_feed[a.feed].append(a)
            self.put(a.path, page_html(a, a.feed), "text/html; charset=utf-8")
        feeds = []
        for name, group in sorted(by_feed.items()):
            self.put(f"{name}/feed.xml", feed_xml(name, self.base_url, group), "application/rss+xml")
            feeds.append((name, f"{self.base_url}/{name}/feed.xml"))
        self._serve()
        return feeds

    def _serve(self) -> None:
        if self._child is not None:
            raise RuntimeError("load() once: the child serves a copy of the files")
        pid = os.fork()
        if pid == 0:  # the child: serve until killed
            try:
                self.httpd.serve_forever()
            finally:
                os._exit(0)
        self._child = pid
        self.httpd.socket.close()  # the child accepts; the parent only measures
        self.files = {}  # the child holds its copy: not charged to the measured process's memory

    def _admin(self, path: str) -> dict[int, int]:
        import urllib.request

        with urllib.request.urlopen(self.base_url + path, timeout=30) as resp:  # noqa: S310 (loopback)
            return {int(k): v for k, v in json.loads(resp.read()).items()}

    def counts(self) -> dict[int, int]:
        return self._admin("/__counts")

    def reset_counts(self) -> None:
        self._admin("/__reset")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
        self.httpd.server_close()


# ------------------------------------------------------------------ in-process timers

class Timers:
    """Wall time summed per name (calls from worker threads add up: `extract` is CPU time over threads)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._depth = threading.local()  # a timed function calling another timed one counts once

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, name, 0)
            setattr(self._depth, name, depth + 1)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(self._depth, name, depth)
                if depth == 0:
                    self.add(name, time.perf_counter() - t0)
        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


@contextlib.contextmanager
def instrument(timers: Timers, all_relevant: bool) -> Iterator[None]:
    """Patch module attributes the cycle looks up at call time (restored afterwards): every public function of
    the warehouse modules (reads + writes + open/close of the file = 'store'), extraction, the two embedders, and
    with `all_relevant` the judge's verdict (the judge still runs)."""
    import importlib
    import pkgutil

    import warehouse
    from flows import stages
    from pipeline import judge, page_gets
    from pipeline.embed import E5_SMALL

    saved: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, name: str, new: Any) -> None:
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, new)

    modules = [importlib.import_module(f"warehouse.{m.name}") for m in pkgutil.iter_modules(warehouse.__path__)]
    for store, name in [(mod, name) for mod in modules for name in dir(mod)]:
        fn = getattr(store, name)
        if name.startswith("_") or not callable(fn) or getattr(fn, "__module__", "") != store.__name__:
            continue
        if name == "open_warehouse":
            original = fn

            @contextlib.contextmanager
            def timed_open(*args: Any, _orig: Any = original, **kwargs: Any) -> Iterator[Any]:
                t0 = time.perf_counter()
                cm = _orig(*args, **kwargs)
                con = cm.__enter__()
                timers.add("store", time.perf_counter() - t0)
                timers.add("warehouse.connection.open_warehouse", time.perf_counter() - t0)
                try:
                    yield con
                finally:
                    t1 = time.perf_counter()
                    cm.__exit__(None, None, None)
                    timers.add("store", time.perf_counter() - t1)
                    timers.add("warehouse.connection.open_warehouse", time.perf_counter() - t1)

            patch(store, name, timed_open)
        elif name in ("transaction", "connect"):
            continue  # inside open_warehouse / the timed functions already
        else:
            patch(store, name, timers.wrap("store", timers.wrap(f"{store.__name__}.{name}", fn)))
    patch(page_gets, "extract_article", timers.wrap("extract_cpu_threads", page_gets.extract_article))

    original_embed_pending = stages._embed_pending

    def embed_pending(settings: Any, model: str, *args: Any, **kwargs: Any) -> int:
        t0 = time.perf_counter()
        try:
            return original_embed_pending(settings, model, *args, **kwargs)
        finally:
            timers.add("e5_embed" if model == E5_SMALL else "minilm_embed", time.perf_counter() - t0)

    patch(stages, "_embed_pending", embed_pending)
    if all_relevant:
        judge_article = judge.judge_article
        patch(judge, "judge_article",
              lambda *a, **k: dataclasses.replace(judge_article(*a, **k), relevant=True, report=True))
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


# ------------------------------------------------------------------ measurements

def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def db_bytes(path: Path) -> int:
    import warehouse.paths

    return sum(p.stat().st_size for p in warehouse.paths.database_files(path) if p.exists())


STAGE_TASKS = {
    "register-channels": "register", "poll-feeds": "poll", "fetch-articles": "fetch_extract",
    "embed-articles": "embed", "judge-articles": "judge", "assign-incidents": "assign",
    "raise-alerts": "alerts", "deliver-outbox": "deliver", "publish-snapshot": "snapshot",
}


def run_cycle(settings: Any, use_prefect: bool, timers: Timers, all_relevant: bool) -> dict[str, Any]:
    """One monitor cycle; wall time, the CycleReport, per-stage seconds (task-run timestamps) and timers."""
    from flows import cycle, stages

    timers.reset()
    stage_s: dict[str, float] = {}
    with instrument(timers, all_relevant):
        t0 = time.perf_counter()
        if use_prefect:
            with tasks_run() as ran:
                state = asyncio.run(cycle.monitor_cycle(settings, return_state=True))
            wall = time.perf_counter() - t0
            report = state.result()
            t1 = time.perf_counter()
            stage_s = task_run_seconds(state.state_details.flow_run_id, ran)
            timers.add("wait_task_runs_recorded", time.perf_counter() - t1)
        else:  # the same stages, called as plain functions (no Prefect server), each timed here
            results: dict[str, Any] = {}

            def timed(stage: str, fn: Callable[..., Any], *a: Any) -> None:
                t = time.perf_counter()
                results[stage] = fn(*a)
                stage_s[stage] = time.perf_counter() - t

            timed("register", stages.register_channels, settings)
            timed("poll", stages.poll_feeds.fn, settings)
            fetched = threading.Event()
            fetcher = threading.Thread(target=timed, args=("fetch_extract", stages.fetch_articles.fn, settings,
                                                           fetched))
            fetcher.start()  # as flows.cycle._fetch_and_embed: the embedder works beside the fetch stage
            timed("embed", stages.embed_articles.fn, settings, fetched)
            fetcher.join()
            for task in (stages.judge_articles, stages.assign_incidents, stages.raise_alerts):
                timed(STAGE_TASKS[task.name], task.fn, settings)
            timed("deliver", cycle.deliver_stage.fn, settings)
            assigned = results["assign"]
            report = cycle.CycleReport(
                **vars(results["poll"]), **vars(results["judge"]), articles=results["fetch_extract"],
                embedded=results["embed"] + assigned.embedded, assigned=assigned.assigned,
                incidents_opened=assigned.incidents_opened, alerts=results["alerts"])
            timed("snapshot", stages.publish_snapshot.fn, settings, report)
            wall = time.perf_counter() - t0
    return {"wall_s": wall, "report": report, "stages_s": stage_s, "timers_s": dict(timers.seconds),
            "timer_calls": dict(timers.calls)}


@contextlib.contextmanager
def tasks_run() -> Iterator[list[str]]:
    """Collects the names of the cycle's tasks as they run in this process (their `fn` wrapped, restored after):
    what task_run_seconds must find recorded by the Prefect server."""
    from prefect import Task

    from flows import cycle

    ran: list[str] = []
    saved = []
    for task in {t for t in vars(cycle).values() if isinstance(t, Task)}:
        def counted(*args: Any, _fn: Any = task.fn, _name: str = task.name, **kwargs: Any) -> Any:
            ran.append(_name)
            return _fn(*args, **kwargs)

        counted.__wrapped__ = task.fn  # type: ignore[attr-defined]  (Prefect binds parameters by the signature)
        saved.append((task, task.fn))
        task.fn = counted
    try:
        yield ran
    finally:
        for task, fn in saved:
            task.fn = fn


def task_run_seconds(flow_run_id: Any, expected: Sequence[str], timeout_seconds: float = 120.0) -> dict[str, float]:
    """Seconds per stage from the task runs' start and end times on the Prefect server. Prefect 3 records task
    runs from events, asynchronously: right after the flow returns, the last stages (assign, alerts) may not be
    recorded yet, most often on a loaded machine (the smoke test lost its `assign` stage that way while the whole
    suite ran). So wait until every task run `expected` (the names of the tasks that ran) is recorded with an end
    time."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    want: dict[str, int] = defaultdict(int)
    for name in expected:
        want[name] += 1
    deadline = time.monotonic() + timeout_seconds
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            finished: dict[str, int] = defaultdict(int)
            for tr in runs:
                if tr.start_time and tr.end_time:
                    finished[tr.name.rsplit("-", 1)[0]] += 1
            if all(finished[name] >= n for name, n in want.items()):
                break
            if time.monotonic() > deadline:
                missing = sorted(name for name, n in want.items() if finished[name] < n)
                raise RuntimeError(f"task runs not recorded by the Prefect server after {timeout_seconds:.0f} s: "
                                   f"{', '.join(missing)}")
            time.sleep(0.2)
    out: dict[str, float] = defaultdict(float)
    for tr in runs:
        base = tr.name.rsplit("-", 1)[0]
        if tr.start_time and tr.end_time:
            out[STAGE_TASKS.get(base, base)] += (tr.end_time - tr.start_time).total_seconds()
    return dict(out)


def stored_texts(settings: Any, lead_words: int, embedded_by: str | None = None) -> list[str]:
    """The embedding texts of the stored articles (only those holding a vector of model `embedded_by`)."""
    import warehouse.articles
    import warehouse.connection
    from pipeline.embed import embedding_text

    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        rows = warehouse.articles.read_article_texts(con, embedded_by)
    return [embedding_text(t, x, lead_words) for t, x in rows]


def embed_rate(model: str, batch_size: int, texts: Sequence[str]) -> tuple[float, float]:
    """(texts/s, seconds) of the cached embedder over `texts`, chunked like flows.stages._embed_pending."""
    from flows import resources

    emb = resources.embedder(model, batch_size)
    chunk = max(batch_size * 4, 64)
    t0 = time.perf_counter()
    for start in range(0, len(texts), chunk):
        emb.encode(list(texts[start:start + chunk]))
    seconds = time.perf_counter() - t0
    return (len(texts) / seconds if seconds else 0.0), seconds


def assign_latency(rows: Sequence[dict[str, Any]], n_incidents: int, members_per_incident: float, queries: int,
                   reps: int, seed: int = 7, overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """IncidentIndex.assign against n_incidents open incidents, every member inside the window. The index is
    restored in bulk with `build_index` (document frequencies counted beforehand, as the warehouse holds them);
    build_s includes the dense index used by the pruned path."""
    import numpy as np

    from pipeline.assign import build_index
    from pipeline.incidents import ClusterSettings, Member
    from pipeline.lexical import DocFreq, extract_terms

    settings = dataclasses.replace(ClusterSettings(), **(overrides or {}))
    rng = np.random.default_rng(seed)
    terms = [extract_terms(r["title"], r["text"], lead_words=settings.term_lead_words) for r in rows]
    n_members = max(n_incidents, round(n_incidents * members_per_incident))
    owner = np.concatenate([np.arange(n_incidents), rng.integers(0, n_incidents, n_members - n_incidents)])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = settings.window_days * 0.4 * 86400  # members within +-0.4 x window of the queries' day
    offsets = rng.uniform(0, span, n_members)
    doc_freq = DocFreq()
    for j in range(n_members):
        doc_freq.add(terms[j % len(terms)])
    vecs = rng.standard_normal((n_members, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    members = [Member(f"m{j}", f"inc{owner[j]}", start + timedelta(seconds=float(offsets[j])), vecs[j],
                      terms[j % len(terms)]) for j in range(n_members)]
    t0 = time.perf_counter()
    index = build_index(settings, doc_freq, members)
    build = time.perf_counter() - t0
    del members, vecs
    when = start + timedelta(seconds=span / 2)
    samples = []
    qvecs = rng.standard_normal((queries, 384)).astype(np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    qterms = [terms[int(i)] for i in rng.integers(0, len(terms), queries)]
    for q in range(min(3, queries)):  # warm-up
        index.assign(qvecs[q], qterms[q], when)
    for _ in range(reps):
        for q in range(queries):
            t = time.perf_counter()
            index.assign(qvecs[q], qterms[q], when)
            samples.append((time.perf_counter() - t) * 1000)
    arr = np.asarray(samples)
    return {"incidents": n_incidents, "members": n_members, "build_s": build,
            "build_ms_per_member": build * 1000 / n_members, "p50_ms": float(np.percentile(arr, 50)),
            "p95_ms": float(np.percentile(arr, 95)), "samples": len(samples),
            "pruned": n_members >= settings.prune_min_members}


def ann_recall(data: Path, n_members: int, queries: int, seed: int = 11) -> dict[str, Any]:
    """Recall of the pruned path's dense candidates (IncidentIndex.nearest_keys) against exact top-k, on the real
    e5 vectors of the gva texts (benchmarks/cache, filled by bench_clusters.py gva), grown to n_members by
    perturbed copies (noise 0.1-0.5 of a unit vector's length, renormalised); queries are fresh perturbations."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_clusters import embed_cached, lede, load_gva

    from pipeline.incidents import ClusterSettings, IncidentIndex, Member
    from pipeline.lexical import DocFreq

    settings = ClusterSettings(prune_min_members=0)
    docs = load_gva(data)
    base = embed_cached("e5", [lede(d.title, d.text, settings.lede_words) for d in docs])
    rng = np.random.default_rng(seed)

    def perturbed(count: int) -> np.ndarray:
        origin = base[rng.integers(0, len(base), count)]
        noise = rng.standard_normal(origin.shape).astype(np.float32) / np.sqrt(origin.shape[1])
        out = origin + noise * rng.uniform(0.1, 0.5, (count, 1)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    vectors = np.vstack([base, perturbed(max(0, n_members - len(base)))])[:n_members]
    when = datetime(2025, 1, 1, tzinfo=UTC)
    index = IncidentIndex(settings, DocFreq())
    index.extend(Member(f"m{j}", f"inc{j}", when, v, {}) for j, v in enumerate(vectors))
    t0 = time.perf_counter()
    index.prepare()
    prepare_s = time.perf_counter() - t0
    k = settings.dense_candidates
    hits = top1 = 0
    qs = perturbed(queries)
    for q in qs:
        exact = np.argsort(-(vectors @ q), kind="stable")[:k]
        found = {int(key[1:]) for key in index.nearest_keys(q, k)}
        hits += len(found & set(exact.tolist()))
        top1 += int(exact[0]) in found
    return {"members": n_members, "k": k, "ann_probes": settings.ann_probes, "queries": queries,
            f"recall_at_{k}": hits / (k * queries), "top1_in_candidates": top1 / queries,
            "dense_index_build_s": prepare_s}


def run_assign_only(args: argparse.Namespace) -> dict[str, Any]:
    """Only the assign latency (and, with --ann-recall, the dense candidates' recall): no feeds, no Prefect."""
    rows = read_texts(args.data)
    overrides = {k: int(v) for k, _, v in (item.partition("=") for item in args.assign_set)}
    result: dict[str, Any] = {"date": date.today().isoformat(), "command": "python " + " ".join(sys.argv),
                              "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0], "assign": {},
                              "assign_settings": overrides}
    for size in [int(s) for s in args.assign_sizes.split(",") if s.strip()]:
        lat = assign_latency(rows, size, args.members_per_incident, args.queries, args.reps, overrides=overrides)
        label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
        result["assign"][label] = lat
        result[f"assign_ms_p50_{label}"] = lat["p50_ms"]
        result[f"assign_ms_p95_{label}"] = lat["p95_ms"]
        print(f"assign vs {label} incidents ({lat['members']} members, pruned={lat['pruned']}): p50 "
              f"{lat['p50_ms']:.2f} ms, p95 {lat['p95_ms']:.2f} ms, build {lat['build_s']:.1f} s "
              f"({lat['build_ms_per_member']:.3f} ms/member)", flush=True)
    if args.ann_recall:
        result["ann_recall"] = ann_recall(args.data, args.ann_recall, args.queries)
        print(f"ann recall: {result['ann_recall']}", flush=True)
    result["peak_rss_mb_with_assign_bench"] = rss_mb()
    result["load_avg_at_end"] = os.getloadavg()[0]
    return result


# ------------------------------------------------------------------ the run

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="gva-dev.jsonl.gz (default ../shared/bench/)")
    p.add_argument("--feeds", type=int, default=20)
    p.add_argument("--items", type=int, default=25, help="items per feed (feeds x items new articles)")
    p.add_argument("--reps", type=int, default=3, help="idle cycles and assign-latency repetitions (medians)")
    p.add_argument("--busy-reps", type=int, default=3,
                   help="busy cycles, each on a fresh warehouse with its own idle cycles and embedding-only pass "
                        "(ratios are their medians)")
    p.add_argument("--assign-sizes", default="1000,10000,100000", help="open incidents for the assign latency")
    p.add_argument("--members-per-incident", type=float, default=1.6,
                   help="members per open incident in the assign benchmark (gva-dev: 1905/1191 = 1.6)")
    p.add_argument("--queries", type=int, default=30, help="assign calls per repetition")
    p.add_argument("--assign-only", action="store_true", help="only the assign latency (no feeds, no Prefect)")
    p.add_argument("--assign-set", action="append", default=[], metavar="KNOB=INT",
                   help="assign benchmark: override an integer engine setting (e.g. prune_min_members=0)")
    p.add_argument("--ann-recall", type=int, default=0, metavar="MEMBERS",
                   help="with --assign-only: recall@k of the dense candidates on e5 gva vectors grown to MEMBERS")
    p.add_argument("--all-relevant", action="store_true",
                   help="force every article relevant + a report (judge still runs): e5, entities, assign on all")
    p.add_argument("--no-prefect", action="store_true", help="call the stage functions (.fn), no Prefect flow")
    p.add_argument("--concurrency", type=int, default=8, help="fetch.concurrency = fetch.per_host_concurrency "
                   "(the synthetic stream has one host; real feeds spread over many)")
    p.add_argument("--label", default="", help="results file <date>-<label>.json")
    p.add_argument("--out", type=Path, help="results JSON path (default benchmarks/results/<date>[-label].json)")
    p.add_argument("--workdir", type=Path, help="keep the warehouse here (default: a temp dir, removed)")
    return p.parse_args(argv)


def measure_once(args: argparse.Namespace, settings: Any, server: StreamServer, timers: Timers, engine: Any,
                 n: int, result: dict[str, Any]) -> dict[str, Any]:
    """One busy cycle (every article new, on a fresh warehouse), `args.reps` idle cycles (every feed 304), and the
    embedding-only pass over the very texts the busy cycle embedded: MiniLM over every article plus the engine's
    e5 over the relevant ones, i.e. the same model work without the pipeline around it."""
    import warehouse.paths
    from pipeline.clustering import cluster_model

    out: dict[str, Any] = {}
    wh = Path(settings.warehouse.path)
    server.reset_counts()
    busy = run_cycle(settings, not args.no_prefect, timers, args.all_relevant)
    rep = busy["report"]
    out["busy"] = {
        "wall_s": busy["wall_s"], "stages_s": busy["stages_s"], "timers_s": busy["timers_s"],
        "new_entries": rep.new_entries, "articles": rep.articles, "embedded": rep.embedded,
        "judged": rep.judged, "relevant": rep.relevant, "assigned": rep.assigned,
        "incidents_opened": rep.incidents_opened, "alerts": len(rep.alerts),
        "feeds_failed": len(rep.feeds_failed), "http": server.counts(),
    }
    out["e2e_articles_per_s"] = n / busy["wall_s"]
    st = busy["stages_s"]
    tm = busy["timers_s"]
    out["stage_rates_per_s"] = {
        "poll_feeds_per_s": args.feeds / st["poll"] if st.get("poll") else None,
        "fetch_extract_articles_per_s": n / st["fetch_extract"] if st.get("fetch_extract") else None,
        "embed_articles_per_s": rep.embedded / st["embed"] if st.get("embed") else None,
        "judge_articles_per_s": rep.judged / st["judge"] if st.get("judge") else None,
        "assign_articles_per_s": (rep.assigned / (st["assign"] - tm.get("e5_embed", 0.0))
                                  if rep.assigned and st.get("assign") else None),
        "e5_embed_articles_per_s": (rep.relevant / tm["e5_embed"] if rep.relevant and tm.get("e5_embed") else None),
    }
    out["store_s_total"] = tm.get("store", 0.0)
    out["store_share_of_cycle"] = tm.get("store", 0.0) / busy["wall_s"]
    out["warehouse_bytes"] = db_bytes(wh)
    out["warehouse_mb_per_10k_articles"] = (db_bytes(wh) - result["empty_warehouse_bytes"]) / n * 10_000 / 1e6
    out["snapshot_bytes"] = db_bytes(warehouse.paths.snapshot_path(wh))

    server.reset_counts()
    idles = [run_cycle(settings, not args.no_prefect, timers, args.all_relevant) for _ in range(args.reps)]
    idle_wall = statistics.median(c["wall_s"] for c in idles)
    out["idle"] = {
        "wall_s_median": idle_wall, "wall_s_all": [c["wall_s"] for c in idles],
        "stages_s_median": {k: statistics.median(c["stages_s"].get(k, 0.0) for c in idles)
                            for k in idles[0]["stages_s"]},
        "store_s_median": statistics.median(c["timers_s"].get("store", 0.0) for c in idles),
        "not_modified": idles[-1]["report"].feeds_not_modified, "new_entries": idles[-1]["report"].new_entries,
        "http": server.counts(),
    }
    out["idle_over_busy_ratio"] = idle_wall / busy["wall_s"]
    out["idle_over_busy_ratio_500"] = idle_wall / (busy["wall_s"] * 500 / n)  # busy scaled to 500 articles
    # the process's peak so far: warm-up, the busy cycle and the idle cycles, before the harness's own
    # embedding-only pass (which holds every text at once and is no part of the pipeline)
    out["peak_rss_mb_pipeline"] = rss_mb()

    texts = stored_texts(settings, settings.embed.lead_words)
    rate, secs = embed_rate(settings.embed.model, settings.embed.batch_size, texts)
    out["embed_only"] = {"model": settings.embed.model, "texts": len(texts), "seconds": secs, "texts_per_s": rate}
    e5_model = cluster_model(engine)
    e5_texts = stored_texts(settings, engine.lede_words, embedded_by=e5_model)
    e5_rate, e5_secs = embed_rate(e5_model, settings.embed.batch_size, e5_texts) if e5_texts else (0.0, 0.0)
    out["e5_only"] = {"model": e5_model, "texts": len(e5_texts), "seconds": e5_secs, "texts_per_s": e5_rate}
    out["embed_only_seconds"] = secs + e5_secs
    out["e2e_over_embed_ratio"] = out["embed_only_seconds"] / busy["wall_s"]
    out["e2e_over_minilm_ratio"] = secs / busy["wall_s"]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

    from flows import resources
    from pipeline.clustering import cluster_model
    from pipeline.settings import load_settings

    rows = read_texts(args.data)
    articles = make_stream(rows, args.feeds, args.items)
    n = len(articles)
    timers = Timers()
    tmp_ctx = tempfile.TemporaryDirectory(prefix="nw-bench-") if args.workdir is None else contextlib.nullcontext(
        str(args.workdir))
    result: dict[str, Any] = {
        "date": date.today().isoformat(), "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "feeds": args.feeds, "items_per_feed": args.items, "articles": n, "all_relevant": args.all_relevant,
        "prefect_flow": not args.no_prefect, "fetch_concurrency": args.concurrency, "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg()[0], "data": str(args.data.name),
        "distinct_texts": min(n, len(rows)),
    }
    with tmp_ctx as tmp, StreamServer() as server:
        tmpdir = Path(tmp)
        tmpdir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("PREFECT_HOME", str(tmpdir / "prefect"))
        feeds = server.load(articles)
        wh = tmpdir / "bench.duckdb"
        settings = load_settings([], environ={}, overrides={
            "warehouse": {"path": str(wh), "busy_timeout_seconds": 60},
            "fetch": {"allow_private_addresses": True, "timeout_seconds": 60, "concurrency": args.concurrency,
                      "per_host_concurrency": args.concurrency},
            "digest": {"out_dir": str(tmpdir / "out")},
            "alerts": {"channels": [{"name": "log", "type": "log"}]},
            "feeds": [{"name": name, "url": url} for name, url in feeds],
        })
        engine = settings.cluster
        e5_model = cluster_model(engine)

        # Warm-up, not timed in the cycle: a long-running `newswatch serve` keeps models loaded and Prefect up.
        t0 = time.perf_counter()
        resources.classifier(settings.topic.classifier_path, settings.embed.model)
        resources.embedder(e5_model, settings.embed.batch_size)
        result["model_load_s"] = time.perf_counter() - t0
        from pipeline.extract import extract_article

        extract_article("http://127.0.0.1/x.html", page_html(articles[0], "warm-up"), "text/html")  # first call ~0.5 s
        import warehouse.connection

        with warehouse.connection.open_warehouse(tmpdir / "empty.duckdb"):
            pass  # an empty warehouse (migrations only): the fixed part of the file size
        result["empty_warehouse_bytes"] = db_bytes(tmpdir / "empty.duckdb")
        if not args.no_prefect:
            t0 = time.perf_counter()
            warm_up_prefect()
            result["prefect_startup_s"] = time.perf_counter() - t0
        result["rss_mb_after_warmup"] = rss_mb()

        from flows.cycle import api_client

        with api_client():  # as `newswatch serve` does: one Prefect API client for all the cycles
            reps = [measure_once(args, settings.model_copy(update={"warehouse": settings.warehouse.model_copy(
                update={"path": str(tmpdir / f"bench-{i}.duckdb")})}), server, timers, engine, n, result)
                for i in range(args.busy_reps)]
        result["reps"] = reps
        # Medians over the repetitions (each on a fresh warehouse, so every article is new again); the table
        # shows the repetition whose ratio is the median one.
        for key in ("e2e_over_embed_ratio", "e2e_over_minilm_ratio", "idle_over_busy_ratio",
                    "idle_over_busy_ratio_500", "e2e_articles_per_s"):
            result[key] = statistics.median(r[key] for r in reps)
            result[key + "_all"] = [r[key] for r in reps]
        middle = sorted(reps, key=lambda r: r["e2e_over_embed_ratio"])[len(reps) // 2]
        for key in ("busy", "stage_rates_per_s", "store_s_total", "store_share_of_cycle", "warehouse_bytes",
                    "warehouse_mb_per_10k_articles", "snapshot_bytes", "idle", "embed_only", "e5_only"):
            if key in middle:
                result[key] = middle[key]
        result["peak_rss_mb"] = rss_mb()  # models, server, cycles and the harness's passes (no assign index)
        # the pipeline alone: the process's peak before the first repetition's embedding-only pass
        result["peak_rss_mb_pipeline"] = reps[0]["peak_rss_mb_pipeline"]

    # Assignment latency against many open incidents (in this process: counted in peak_rss_mb_with_assign only).
    result["assign"] = {}
    for size in [int(s) for s in args.assign_sizes.split(",") if s.strip()]:
        lat = assign_latency(rows, size, args.members_per_incident, args.queries, args.reps)
        label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
        result["assign"][label] = lat
        result[f"assign_ms_p50_{label}"] = lat["p50_ms"]
        result[f"assign_ms_p95_{label}"] = lat["p95_ms"]
    result["peak_rss_mb_with_assign_bench"] = rss_mb()
    result["load_avg_at_end"] = os.getloadavg()[0]
    result["targets"] = check_targets(result)
    return result


def warm_up_prefect() -> None:
    from prefect import flow

    @flow(name="bench-warm-up")
    def noop() -> int:
        return 0

    noop()


def check_targets(r: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = r.get(key)
        if value is None:
            continue
        ok = value >= bound if op == ">=" else value < bound
        note = "" if key != "peak_rss_mb_pipeline" or r["articles"] >= 10_000 else f" (run of {r['articles']} articles)"
        out[key] = {"value": value, "target": f"{op} {bound}", "met": bool(ok), "note": note.strip()}
    return out


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def print_table(r: dict[str, Any]) -> None:
    b = r["busy"]
    lines = [
        (f"# {r['articles']} articles ({r['feeds']} feeds x {r['items_per_feed']}), all_relevant={r['all_relevant']}, "
         f"prefect={r['prefect_flow']}, load avg {r['load_avg_at_start']:.2f} -> {r['load_avg_at_end']:.2f}"),
        f"{'measure':44} value",
        f"{'busy cycle wall s':44} {fmt(b['wall_s'])}",
    ]
    for stage, secs in b["stages_s"].items():
        lines.append(f"{'  stage ' + stage + ' s':44} {fmt(secs)}")
    for name, secs in sorted(b["timers_s"].items(), key=lambda kv: -kv[1]):
        if name.startswith("store.") and secs < 0.05 * b["timers_s"].get("store", 0.0):
            continue
        lines.append(f"{'  timer ' + name + ' s':44} {fmt(secs)}")
    for k, v in r["stage_rates_per_s"].items():
        lines.append(f"{'  ' + k:44} {fmt(v)}")
    lines += [
        f"{'relevant / assigned / opened':44} {b['relevant']} / {b['assigned']} / {b['incidents_opened']}",
        f"{'e2e articles/s':44} {fmt(r['e2e_articles_per_s'])}",
        f"{'embedding-only texts/s (' + r['embed_only']['model'] + ')':44} {fmt(r['embed_only']['texts_per_s'])}",
        f"{'e5 embedding-only texts/s (' + str(r['e5_only']['texts']) + ' relevant)':44} "
        f"{fmt(r['e5_only']['texts_per_s'])}",
        f"{'e2e_over_embed_ratio (both models), median':44} {fmt(r['e2e_over_embed_ratio'])}  "
        f"all: {', '.join(fmt(x) for x in r['e2e_over_embed_ratio_all'])}",
        f"{'e2e_over_minilm_ratio, median':44} {fmt(r['e2e_over_minilm_ratio'])}  "
        f"all: {', '.join(fmt(x) for x in r['e2e_over_minilm_ratio_all'])}",
    ]
    lines += [
        f"{'idle (all-304) cycle wall s, median':44} {fmt(r['idle']['wall_s_median'])}",
        f"{'  idle stages (median s)':44} " + ", ".join(f"{k}={v:.2f}" for k, v in r["idle"]["stages_s_median"].items()),
        f"{'idle_over_busy_ratio, median':44} {fmt(r['idle_over_busy_ratio'])}  "
        f"all: {', '.join(fmt(x) for x in r['idle_over_busy_ratio_all'])}",
        f"{'idle_over_busy_ratio_500 (busy scaled)':44} {fmt(r['idle_over_busy_ratio_500'])}",
        f"{'warehouse MB per 10k articles':44} {fmt(r['warehouse_mb_per_10k_articles'])}",
        f"{'peak RSS MB (pipeline: warm-up + cycles)':44} {fmt(r['peak_rss_mb_pipeline'])}",
        f"{'peak RSS MB (+ harness embedding-only pass)':44} {fmt(r['peak_rss_mb'])}",
        f"{'peak RSS MB (with assign index)':44} {fmt(r['peak_rss_mb_with_assign_bench'])}",
    ]
    for label, a in r["assign"].items():
        lines.append(f"{'assign vs ' + label + ' incidents p50/p95 ms':44} {fmt(a['p50_ms'])} / {fmt(a['p95_ms'])}"
                     f"  ({a['members']} members, build {a['build_s']:.1f} s)")
    for key, t in r["targets"].items():
        lines.append(f"{'target ' + key + ' ' + t['target']:44} {fmt(t['value'])} {'MET' if t['met'] else 'NOT MET'}"
                     f" {t['note']}")
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"benchmark data not found: {args.data}", file=sys.stderr)
        return 2
    result = run_assign_only(args) if args.assign_only else run(args)
    out = args.out or RESULTS / (result["date"] + (f"-{args.label}" if args.label else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if not args.assign_only:
        print_table(result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

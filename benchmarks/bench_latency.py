"""Benchmark: alert latency of `newswatch serve`, from "item visible in its feed" to "alert received by the SMTP
server", with and without a host that trickles its pages.

`newswatch serve --interval-minutes 1` runs as its own process (its own temporary Prefect server, as an operator
would start it) against feeds served from this process on loopback: the healthy outlets on 127.0.0.2, and, in the
`slow` case, one more outlet on 127.0.0.1 whose pages send one byte every 2 s (each GET runs into
fetch.timeout_seconds) and which publishes a new such page every minute. An aiosmtpd server on 127.0.0.1 receives
the e-mail alerts.

The reports are the English first reports of the airspace incidents of the three corpora in ../shared/corpus
(dev, dev-late2025, dev-winter2024: read from there, never copied), one item per incident, their publication dates
in the feed set a month apart (the corpora overlap in time, and two incidents of one week can rightly become
one: here every report must open an incident of its own, so that each alert measures one item). After a warm-up (the service's first cycles, and
one report alerted so both models are loaded), each report becomes visible in its outlet's feed at a random moment
of a `--minutes` window; its latency is the SMTP server's receipt time minus that moment. p50 / p95 are
nearest-rank over the reports alerted; a report never alerted within the drain time is counted as missing.

Usage:
  python benchmarks/bench_latency.py                       # both cases, 6-minute windows (~20 min)
  python benchmarks/bench_latency.py --cases slow --minutes 3
Writes benchmarks/results/<YYYY-MM-DD>-latency.json (or --out) and prints a table. Goal: p95 <= interval + 30 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpus"
RESULTS = ROOT / "benchmarks" / "results"
CORPUS_NAMES = ("dev", "dev-late2025", "dev-winter2024")


@dataclass
class Item:
    outlet: str
    path: str  # on the server
    title: str
    published: datetime  # the report's own publication date (in the feed)
    body: bytes  # the page; {{BASE}} replaced when served
    visible_at: float | None = None  # time.time() from which the feed lists it (None: not yet)
    trickle: bool = False


def first_reports(corpora: Path) -> list[Item]:
    """The earliest English first report of every incident in the corpora, in a random-free, stable order."""
    items = []
    for name in CORPUS_NAMES:
        base = corpora / name
        if not base.is_dir():
            continue
        chosen: dict[str, dict[str, Any]] = {}
        for line in (base / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            label = json.loads(line)
            if label["kind"] != "first_report" or label["lang"] != "en":
                continue
            when = datetime.fromisoformat(label["published"])
            if label["incident"] not in chosen or when < chosen[label["incident"]]["when"]:
                chosen[label["incident"]] = {**label, "when": when}
        for label in chosen.values():
            rel = label["url"].replace("{{BASE}}/", "")
            outlet = rel.split("/", 1)[0]
            items.append(Item(outlet, f"/{name}/{rel}", label["title"], label["when"],
                              (base / "site" / rel).read_bytes()))
    for k, item in enumerate(items):  # a month apart: every report is an incident of its own
        item.published = datetime(2020, 1, 1, 12, tzinfo=UTC) + timedelta(days=30 * k)
    return items


class Feeds:
    """Outlets' RSS feeds and pages on `host`: an item is listed (and its page served) once visible. ETag per
    feed body, so unchanged feeds answer 304. Trickled pages: headers, then one byte every 2 s."""

    def __init__(self, host: str) -> None:
        self.items: list[Item] = []
        self.lock = threading.Lock()
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                now = time.time()
                with feeds.lock:
                    visible = [i for i in feeds.items if i.visible_at is not None and i.visible_at <= now]
                if self.path.endswith("/feed.xml"):
                    outlet = self.path.strip("/").split("/")[0]
                    body = feeds.feed(outlet, [i for i in visible if i.outlet == outlet])
                    etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                    if self.headers.get("If-None-Match") == etag:
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    self._send(body, "application/rss+xml", etag)
                    return
                item = next((i for i in visible if i.path == self.path), None)
                if item is None:
                    self.send_error(404)
                    return
                body = item.body.replace(b"{{BASE}}", feeds.base.encode())
                if not item.trickle:
                    self._send(body, "text/html; charset=utf-8")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for k in range(len(body)):
                        self.wfile.write(body[k:k + 1])
                        self.wfile.flush()
                        time.sleep(2.0)
                except OSError:
                    pass  # the client gave up (its GET timed out)

            def _send(self, body: bytes, ctype: str, etag: str | None = None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def feed(self, outlet: str, items: list[Item]) -> bytes:
        entries = "".join(
            f"<item><title>{escape(i.title)}</title><link>{self.base}{i.path}</link><guid>{self.base}{i.path}</guid>"
            f"<pubDate>{format_datetime(i.published)}</pubDate><description>{escape(i.title)}</description></item>"
            for i in sorted(items, key=lambda i: i.published, reverse=True))
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{outlet}</title>'
                f"<link>{self.base}/{outlet}/</link><language>en</language>{entries}</channel></rss>").encode()

    def add(self, item: Item, visible_at: float | None) -> None:
        item.visible_at = visible_at
        with self.lock:
            self.items.append(item)

    def show(self, item: Item, at: float) -> None:
        with self.lock:
            item.visible_at = at

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Inbox:
    """aiosmtpd handler: (receipt time.time(), subject) of every message."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        self.received.append((time.time(), " ".join(str(msg["Subject"]).split())))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def alerted_at(inbox: Inbox, item: Item) -> float | None:
    return next((t for t, subject in inbox.received if f"New incident: {' '.join(item.title.split())}" in subject),
                None)


def run_case(case: str, args: argparse.Namespace, reports: list[Item], tmp: Path) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    rng = random.Random(args.seed)
    healthy = Feeds("127.0.0.2")
    slow = Feeds("127.0.0.1") if case == "slow" else None
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    warm, measured = reports[0], reports[1:]
    for item in reports:
        healthy.add(item, None)
    outlets = sorted({i.outlet for i in reports})
    feeds = "".join(f'[[feeds]]\nname = "{o}"\nurl = "{healthy.base}/{o}/feed.xml"\n' for o in outlets)
    slow_pages = 0
    if slow is not None:
        feeds += f'[[feeds]]\nname = "slow-outlet"\nurl = "{slow.base}/slow-outlet/feed.xml"\n'

        def slow_page(n: int, at: float) -> None:
            slow.add(Item("slow-outlet", f"/slow-outlet/weather/{n}.html", f"Weather for the coast, bulletin {n}",
                          datetime.fromtimestamp(at).astimezone(), b"<html><body><p>" + b"Calm seas. " * 200
                          + b"</p></body></html>", trickle=True), at)

        for n in range(args.slow_pages):  # a backlog of slow pages from the start
            slow_page(n, time.time())
        slow_pages = args.slow_pages
    wh = tmp / case / "nw.duckdb"
    wh.parent.mkdir(parents=True, exist_ok=True)
    config = tmp / case / "newswatch.toml"
    config.write_text(
        f'[warehouse]\npath = "{wh}"\n[fetch]\nallow_private_addresses = true\n'
        f'[digest]\nout_dir = "{tmp / case / "out"}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        '[alerts]\nchannels = [{ name = "desk", type = "email", to = ["desk@example.org"] }]\n' + feeds,
        encoding="utf-8")
    env = {**os.environ, "PREFECT_HOME": str(tmp / case / "prefect"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env = {k: v for k, v in env.items() if not k.startswith("NEWSWATCH_") and k != "PREFECT_API_URL"}
    cmd = [sys.executable, "-m", "flows", "serve", "-c", str(config), "--interval-minutes", str(args.interval_minutes)]
    log = (tmp / case / "serve.log").open("w")
    service = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    started = time.time()
    result: dict[str, Any] = {"case": case, "command": " ".join(["newswatch", *cmd[3:]])}
    try:
        def cycles() -> int:
            return (tmp / case / "serve.log").read_text(encoding="utf-8", errors="replace").count("] cycle ")

        while cycles() < 1:  # the service is up: Prefect started, the model loaded, the first cycle done
            if service.poll() is not None or time.time() - started > 600:
                raise RuntimeError(f"serve did not complete a cycle: see {tmp / case / 'serve.log'}")
            time.sleep(1)
        result["first_cycle_after_s"] = time.time() - started
        healthy.show(warm, time.time())  # warm-up: the first report loads the clustering model
        while alerted_at(inbox, warm) is None:
            if service.poll() is not None or time.time() - started > 900:
                raise RuntimeError(f"no warm-up alert: see {tmp / case / 'serve.log'}")
            time.sleep(1)
        window = args.minutes * 60.0
        t0 = time.time()
        for item in measured:
            healthy.show(item, t0 + rng.uniform(0, window))
        n = slow_pages
        while time.time() < t0 + window:  # one more slow page a minute
            time.sleep(1)
            if slow is not None and time.time() - t0 > (n - slow_pages + 1) * 60:
                slow_page(n, time.time())
                n += 1
        drain_until = t0 + window + args.drain_minutes * 60
        while time.time() < drain_until and any(alerted_at(inbox, i) is None for i in measured):
            time.sleep(1)
        result["cycles"] = cycles()
    finally:
        service.send_signal(signal.SIGINT)
        try:
            service.wait(timeout=120)
        except subprocess.TimeoutExpired:
            service.kill()
        log.close()
        controller.stop()
        healthy.close()
        if slow is not None:
            slow.close()
    latencies = {i.title: alerted_at(inbox, i) - i.visible_at for i in measured  # type: ignore[operator]
                 if alerted_at(inbox, i) is not None}
    values = list(latencies.values())
    result.update({
        "reports": len(measured), "alerted": len(values),
        "missing": sorted(i.title for i in measured if i.title not in latencies),
        "p50_s": nearest_rank(values, 0.5) if values else None,
        "p95_s": nearest_rank(values, 0.95) if values else None,
        "max_s": max(values) if values else None,
        "mean_s": statistics.fmean(values) if values else None,
        "latencies_s": dict(sorted(latencies.items(), key=lambda kv: kv[1])),
        "slow_pages_published": (n if slow is not None else 0),
        "serve_log_tail": (tmp / case / "serve.log").read_text(encoding="utf-8", errors="replace")[-3000:],
    })
    goal = args.interval_minutes * 60 + 30
    result["goal_p95_s"] = goal
    result["met"] = bool(values) and result["p95_s"] <= goal and not result["missing"]
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="plain,slow", help="plain (healthy hosts only), slow (plus a trickling host)")
    p.add_argument("--minutes", type=float, default=6.0, help="window in which the reports appear at random moments")
    p.add_argument("--interval-minutes", type=float, default=1.0, help="serve --interval-minutes")
    p.add_argument("--drain-minutes", type=float, default=3.0, help="how long to wait for the last alerts")
    p.add_argument("--slow-pages", type=int, default=20, help="trickling pages waiting at the start (slow case)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--corpora", type=Path, default=CORPORA)
    p.add_argument("--out", type=Path, help="results JSON (default benchmarks/results/<date>-latency.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports = first_reports(args.corpora)
    if len(reports) < 3:
        print(f"too few reports under {args.corpora}", file=sys.stderr)
        return 2
    out: dict[str, Any] = {"date": date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
                           "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0],
                           "interval_minutes": args.interval_minutes, "window_minutes": args.minutes,
                           "reports": len(reports) - 1, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="nw-latency-") as tmp:
        for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
            for item in reports:
                item.visible_at = None
            out["cases"][case] = run_case(case, args, reports, Path(tmp))
            print(f"{case}: p50 {out['cases'][case]['p50_s']}, p95 {out['cases'][case]['p95_s']}, "
                  f"alerted {out['cases'][case]['alerted']}/{out['cases'][case]['reports']}", file=sys.stderr)
    out["load_avg_at_end"] = os.getloadavg()[0]
    path = args.out or RESULTS / f"{date.today().isoformat()}-latency.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    print(f"\n{'case':6s} {'alerted':>8s} {'p50 s':>7s} {'p95 s':>7s} {'max s':>7s}  goal p95 <= {out['cases'] and next(iter(out['cases'].values()))['goal_p95_s']:.0f} s")
    for case, r in out["cases"].items():
        fmt = (lambda v: f"{v:7.1f}" if v is not None else "      -")
        print(f"{case:6s} {r['alerted']:>4d}/{r['reports']:<3d} {fmt(r['p50_s'])} {fmt(r['p95_s'])} {fmt(r['max_s'])}"
              f"  {'met' if r['met'] else 'NOT met'}")
    print(f"results: {path}")
    return 0 if all(r["met"] for r in out["cases"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

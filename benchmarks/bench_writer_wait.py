"""Benchmark: how long a CLI writer waits for the warehouse while a backlog cycle runs.

One busy cycle (`--feeds` x `--items` new articles built from ../shared/bench/gva-dev.jsonl.gz and served from a
forked child on 127.0.0.1, as in bench_throughput.py) runs through the real Prefect flow in this process. Once its
poll is done, a prober runs `newswatch mute <feed>` and `newswatch mute <feed> --unmute` one after the other in
their own processes (DuckDB: one process at a time holds the file), `--pause` seconds apart, until the cycle ends.
Each call's wall time minus the median of the same command on the idle warehouse (process start-up, imports, the
snapshot it republishes) is its wait. A call that outlives warehouse.busy_timeout_seconds fails with "busy".

Usage:
  python benchmarks/bench_writer_wait.py --feeds 40 --items 50          # the 2,000-article backlog
Writes benchmarks/results/<YYYY-MM-DD>-writer-wait[-label].json (or --out) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_throughput import DEFAULT_DATA, RESULTS, StreamServer, make_stream, read_texts  # noqa: E402


def writer(config: Path, feed: str, unmute: bool) -> tuple[float, int, str]:
    """One `newswatch mute` in its own process: (seconds, exit code, last line of its output)."""
    cmd = [sys.executable, "-m", "flows", "mute", feed, "-c", str(config), "--reason", "bench"]
    t0 = time.monotonic()
    done = subprocess.run(cmd + (["--unmute"] if unmute else []), cwd=ROOT, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return time.monotonic() - t0, done.returncode, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--feeds", type=int, default=40)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--pause", type=float, default=2.0, help="seconds between two writer calls")
    p.add_argument("--busy-timeout", type=float, default=60.0, help="warehouse.busy_timeout_seconds (shipped: 60)")
    p.add_argument("--label", default="")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

    import warehouse.connection
    import warehouse.feeds
    from flows import resources
    from flows.cycle import run_cycle
    from pipeline.models import FeedSource
    from pipeline.settings import load_settings

    articles = make_stream(read_texts(args.data), args.feeds, args.items)
    result: dict[str, Any] = {"date": date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
                              "articles": len(articles), "busy_timeout_seconds": args.busy_timeout,
                              "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="nw-writer-") as tmp, StreamServer() as server:
        tmpdir = Path(tmp)
        os.environ.setdefault("PREFECT_HOME", str(tmpdir / "prefect"))
        feeds = server.load(articles)
        wh = tmpdir / "nw.duckdb"
        config = tmpdir / "newswatch.toml"
        config.write_text(f'[warehouse]\npath = "{wh}"\nbusy_timeout_seconds = {args.busy_timeout}\n'
                          "[fetch]\nallow_private_addresses = true\n"
                          + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds), encoding="utf-8")
        settings = load_settings([config], environ={})
        resources.classifier(settings.topic.classifier_path, settings.embed.model)
        with warehouse.connection.open_warehouse(wh) as con:  # the feeds are known, as after any earlier cycle
            warehouse.feeds.upsert_feeds(con, [FeedSource(n, u) for n, u in feeds])
        target = feeds[0][0]
        idle = [writer(config, target, unmute=bool(i % 2))[0] for i in range(4)]  # no cycle: start-up alone
        result["idle_call_s"] = idle
        baseline = statistics.median(idle)

        probes: list[dict[str, Any]] = []
        outcome: dict[str, Any] = {}

        def cycle() -> None:
            t0 = time.monotonic()
            outcome["started"] = t0
            outcome["report"] = run_cycle(settings)
            outcome["wall_s"] = time.monotonic() - t0

        worker = threading.Thread(target=cycle)
        worker.start()
        while server.counts().get(200, 0) <= len(feeds) and worker.is_alive():  # the poll is done
            time.sleep(0.2)
        unmute = False
        while worker.is_alive():
            at = time.monotonic() - outcome["started"]
            seconds, rc, last = writer(config, target, unmute)
            probes.append({"at_s": at, "seconds": seconds, "wait_s": max(0.0, seconds - baseline), "rc": rc,
                           "during_cycle": worker.is_alive(), "output": last})
            unmute = not unmute
            time.sleep(args.pause)
        worker.join()
        if unmute:  # leave it as it was
            writer(config, target, True)
    report = outcome["report"]
    waits = [p["wait_s"] for p in probes]
    result.update({
        "cycle_wall_s": outcome["wall_s"], "embedded": report.embedded, "judged": report.judged,
        "relevant": report.relevant, "baseline_call_s": baseline, "probes": probes,
        "writes": len(probes), "failed": sum(p["rc"] != 0 for p in probes),
        "wait_s_median": statistics.median(waits) if waits else None, "wait_s_max": max(waits) if waits else None,
        "load_avg_at_end": os.getloadavg()[0],
    })
    result["met"] = bool(waits) and result["failed"] == 0 and result["wait_s_max"] < args.busy_timeout
    path = args.out or RESULTS / f"{date.today().isoformat()}-writer-wait{'-' + args.label if args.label else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(f"cycle: {result['articles']} articles, {result['cycle_wall_s']:.1f} s; writer calls during it: "
          f"{result['writes']} ({result['failed']} failed); call alone {baseline:.2f} s; wait median "
          f"{result['wait_s_median']} s, max {result['wait_s_max']} s (busy timeout {args.busy_timeout:.0f} s): "
          f"{'met' if result['met'] else 'NOT met'}\nresults: {path}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())

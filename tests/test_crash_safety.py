"""Crash safety: `newswatch run` in a subprocess is SIGKILLed at every stage boundary and inside every stage's
write transaction (tests/crash_hook.py), then run again; in the end no article is lost or duplicated, no
half-written row is left, and every new incident is alerted exactly once. One warehouse, one chain of runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import warehouse.connection
import warehouse.queries
from flows.corpus_server import CorpusServer
from pipeline.settings import PROJECT_ROOT
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow  # cycles in subprocesses, killed and resumed: Prefect and the model

FEEDS = {"baltic-wire": 11, "nordic-times": 8}  # two outlets of the dev corpus (items per feed, see test_feeds)

# (kill point, what it interrupts); each run resumes what the previous one left
KILL_POINTS = [
    ("after:upsert_entries:1", "poll, inside the write transaction of every feed"),
    ("before:pending_entries:1", "boundary poll -> fetch"),
    ("commit:save_articles:1", "fetch, inside a batch of articles' transaction"),
    ("before:pending_embeddings:1", "embed starting beside the fetch"),
    ("commit:insert_embeddings:1", "embed, inside the batch transaction"),
    ("before:pending_judgements:1", "boundary embed -> judge"),
    ("commit:insert_judgements:1", "judge, inside the transaction"),
    ("before:pending_assignments:1", "boundary judge -> assign"),
    ("commit:save_assignments:1", "assign, inside the transaction"),
    ("before:unalerted_incidents:1", "boundary assign -> alert"),
    ("after:insert_alerts:1", "alert, outbox rows written, nothing sent"),
    ("after:mark_alert_delivery:1", "alert, first alert sent, others pending"),
]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from prefect.settings import PREFECT_API_URL

    tmp = tmp_path_factory.mktemp("crash")
    with CorpusServer(CORPUS / "site") as server:
        urls = server.feed_urls()
        config = tmp / "newswatch.toml"
        config.write_text(
            f'[warehouse]\npath = "{tmp / "nw.duckdb"}"\nbusy_timeout_seconds = 10\n'
            f'[fetch]\nallow_private_addresses = true\ntimeout_seconds = 5\n[digest]\nout_dir = "{tmp / "out"}"\n'
            + "".join(f'[[feeds]]\nname = "{f}"\nurl = "{urls[f]}"\n' for f in FEEDS),
            encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env.update(PREFECT_API_URL=str(PREFECT_API_URL.value()), PYTHONPATH=str(PROJECT_ROOT))

        def run(point: str | None) -> subprocess.CompletedProcess[str]:
            args = [sys.executable, "-m", "tests.crash_hook", point or "none"]
            # -vv: Prefect's log lines reach the terminal, among them the log channel's "ALERT ..." (counted below)
            return subprocess.run([*args, "-vv", "run", "--config", str(config)], cwd=PROJECT_ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)

        runs = [(point, run(point)) for point, _ in KILL_POINTS]
        runs.append((None, run(None)))  # finishes what is left
        runs.append((None, run(None)))  # and has nothing left to do
        with warehouse.connection.open_warehouse(tmp / "nw.duckdb", read_only=True) as con:
            tables = {}
            for sql_name, sql in {
                "articles": "SELECT url FROM v_articles",
                "entries": "SELECT url FROM entries",
                "statuses": "SELECT status FROM v_articles",
                "unembedded": "SELECT article_id FROM articles ANTI JOIN embeddings USING (article_id)",
                "unjudged": "SELECT article_id FROM articles ANTI JOIN judgements USING (article_id)",
                "unassigned": "SELECT article_id FROM judgements ANTI JOIN incident_articles USING (article_id) WHERE relevant",
                "incidents": "SELECT incident_id FROM incidents",
                "alerts": "SELECT incident_id, status FROM v_alerts",
            }.items():
                tables[sql_name] = warehouse.queries.query(con, sql)[1]
        yield {"runs": runs, "tables": tables, "server": server}


def test_every_kill_point_was_reached(chain: dict[str, Any]) -> None:
    for point, result in chain["runs"][:len(KILL_POINTS)]:
        assert result.returncode == -signal.SIGKILL, (point, result.returncode, result.stderr[-2000:])
    for _point, result in chain["runs"][len(KILL_POINTS):]:
        assert result.returncode == 0, result.stderr[-3000:]


def test_no_article_is_lost_or_duplicated(chain: dict[str, Any]) -> None:
    urls = [r[0] for r in chain["tables"]["articles"]]
    entries = [r[0] for r in chain["tables"]["entries"]]
    assert len(entries) == len(set(entries)) == sum(FEEDS.values())  # every item of both feeds, once
    assert sorted(urls) == sorted(entries)  # each entry has exactly one article
    assert "ok" in {r[0] for r in chain["tables"]["statuses"]}


def test_no_stage_is_left_half_done(chain: dict[str, Any]) -> None:
    t = chain["tables"]
    assert t["unembedded"] == [] and t["unjudged"] == [] and t["unassigned"] == []


def test_every_incident_is_alerted_exactly_once(chain: dict[str, Any]) -> None:
    t = chain["tables"]
    alerts = t["alerts"]
    assert len(t["incidents"]) >= 1
    assert sorted(i for i, _ in alerts) == sorted(r[0] for r in t["incidents"])  # one per incident (log channel)
    assert {s for _, s in alerts} == {"sent"}
    printed = sum(r.stdout.count("NEW INCIDENT") + r.stderr.count("ALERT ") for _, r in chain["runs"])
    assert printed <= 2 * len(alerts)  # each alert logged once (ALERT) and printed once (NEW INCIDENT) at most
    logged = sum(r.stderr.count("ALERT ") + r.stdout.count("ALERT ") for _, r in chain["runs"])
    assert logged == len(alerts), [r.stderr[-500:] for _, r in chain["runs"][-4:]]

"""End to end: the dev corpus replayed in publication order (12-hour steps, one `newswatch run` per step) on
a real local server, the real model, Prefect and a real DuckDB file; then the CLI reads what it wrote."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.replay import read_labels, replay_steps
from pipeline.evaluation import Decision, evaluate_replay
from pipeline.settings import PROJECT_ROOT
from tests.conftest import CORPUS
from warehouse import store

FLOORS = json.loads((PROJECT_ROOT / "benchmarks" / "quality_floors.json").read_text())


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, corpus_server, prefect_harness) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("e2e")
    config = tmp / "newswatch.toml"
    feeds = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in corpus_server.feed_urls().items())
    config.write_text(
        f'[warehouse]\npath = "{tmp / "nw.duckdb"}"\n[fetch]\nallow_private_addresses = true\n'
        f'[digest]\nout_dir = "{tmp / "out"}"\n{feeds}', encoding="utf-8")
    labels = read_labels(CORPUS, corpus_server.base_url)
    runner = CliRunner()
    outputs = []
    try:
        for clock in replay_steps(labels, step_hours=12, skip_empty=False):
            corpus_server.set_clock(clock)
            result = runner.invoke(main, ["run", "--config", str(config)], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    finally:
        corpus_server.set_clock(None)
    with store.open_warehouse(tmp / "nw.duckdb", read_only=True) as con:
        decisions = {u: Decision(r, i) for u, (r, i) in store.read_decisions(con).items()}
        alerted = store.read_alerted_urls(con, "log")
    return {"config": config, "outputs": outputs, "report": evaluate_replay(labels, decisions, alerted), "tmp": tmp}


def test_replaying_the_dev_corpus_alerts_new_incidents_once(replayed: dict[str, Any]) -> None:
    report = replayed["report"]
    details = "\n".join(f"{a.verdict} {a.kind} {a.url}" for a in report.alerts)
    assert report.alerted_incidents >= FLOORS["min_alerted_incidents"], details
    assert report.false_alerts + report.duplicate_alerts <= FLOORS["max_false_or_duplicate_alerts"], details
    assert report.relevance.f1 >= FLOORS["min_relevance_f1"]
    assert report.bcubed.f1 >= FLOORS["min_bcubed_f1"]


def test_each_alert_is_printed_by_the_run_that_raised_it(replayed: dict[str, Any]) -> None:
    printed = "".join(replayed["outputs"])
    assert printed.count("NEW INCIDENT") == len(replayed["report"].alerts)


def test_skipped_pages_are_rows_with_a_reason(replayed: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["sql", "-c", str(replayed["config"]), "--json",
                                       "select status, count(*) as n from v_articles group by status"])
    assert result.exit_code == 0, result.output
    counts = {r["status"]: r["n"] for r in json.loads(result.output)}
    assert counts == {"ok": 60, "http_404": 1, "paywall": 1, "js_shell": 1}


def test_sql_counts_articles_read_only(replayed: dict[str, Any]) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["sql", "-c", str(replayed["config"]), "select count(*) as n from v_articles"])
    assert result.exit_code == 0 and "63" in result.output
    denied = runner.invoke(main, ["sql", "-c", str(replayed["config"]), "delete from articles"])
    assert denied.exit_code != 0 and "read-only" in denied.output.lower()


def test_feed_health_shows_every_feed_polled(replayed: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["sql", "-c", str(replayed["config"]), "--json", "select * from v_feed_health"])
    rows = json.loads(result.output)
    assert {r["feed"] for r in rows} == {"baltic-wire", "eastern-flank-post", "continental-herald", "defense-desk",
                                          "nordic-times", "world-brief"}
    assert all(r["consecutive_failures"] == 0 and r["last_status"] in ("ok", "not_modified") for r in rows)
    assert sum(r["items_total"] for r in rows) == 63


def test_incidents_carry_country_and_intruder(replayed: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["incidents", "-c", str(replayed["config"]), "--format", "json"])
    rows = json.loads(result.output)
    assert {"Poland", "Estonia", "Denmark", "Germany"} <= {r["country"] for r in rows}


def test_the_digest_of_a_busy_day_lists_its_new_incident(replayed: dict[str, Any]) -> None:
    out = replayed["tmp"] / "digest.html"
    result = CliRunner().invoke(main, ["digest", "-c", str(replayed["config"]), "--date", "2025-09-10",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    text = out.with_suffix(".txt").read_text(encoding="utf-8")
    assert "New incidents (1)" in html and "<script" not in html
    assert "NEW INCIDENTS" in text and "Poland" in text


def test_a_quiet_day_says_so(replayed: dict[str, Any]) -> None:
    out = replayed["tmp"] / "quiet.html"
    CliRunner().invoke(main, ["digest", "-c", str(replayed["config"]), "--date", "2024-01-01", "--out", str(out)])
    assert "Quiet day" in out.read_text(encoding="utf-8")

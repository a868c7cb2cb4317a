"""End to end (the `replayed` fixture in conftest.py): the dev corpus replayed in publication order (12-hour steps, one `newswatch run` per step) on
a real local server, the real model, Prefect and a real DuckDB file; then the CLI reads what it wrote."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from flows.cli import main
from pipeline.settings import PROJECT_ROOT

FLOORS = json.loads((PROJECT_ROOT / "benchmarks" / "quality_floors.json").read_text())


def test_replaying_the_dev_corpus_alerts_new_incidents_once(replayed: dict[str, Any]) -> None:
    report = replayed["report"]
    details = "\n".join(f"{a.verdict} {a.kind} {a.url}" for a in report.alerts)
    assert report.alerted_incidents >= FLOORS["min_alerted_incidents"], details
    assert report.duplicate_alerts <= FLOORS["max_duplicate_alerts"], details
    assert report.false_alerts <= FLOORS["max_false_alerts"], details
    assert all(rank <= FLOORS["max_alert_rank"] for rank in report.alert_ranks.values()), report.alert_ranks
    assert not report.false_alerts_by_kind, report.false_alerts_by_kind


def test_relevance_and_incident_assignment_hold_their_floors(replayed: dict[str, Any]) -> None:
    report = replayed["report"]
    assert report.relevance.f1 >= FLOORS["min_relevance_f1"], report.relevance
    assert report.bcubed.f1 >= FLOORS["min_bcubed_f1"], report.bcubed
    if FLOORS["non_english_must_join"]:
        assert all(report.non_english_assigned.values()), report.non_english_assigned


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


def test_feed_health_shows_every_feed_and_the_dead_one_with_its_reason(replayed: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["sql", "-c", str(replayed["config"]), "--json", "select * from v_feed_health"])
    rows = {r["feed"]: r for r in json.loads(result.output)}
    live = {"baltic-wire", "eastern-flank-post", "continental-herald", "defense-desk", "nordic-times", "world-brief"}
    assert set(rows) == live | {"gone-outlet"}
    assert all(rows[f]["consecutive_failures"] == 0 and rows[f]["last_status"] in ("ok", "not_modified") for f in live)
    assert rows["gone-outlet"]["last_status"] == "http_404" and rows["gone-outlet"]["consecutive_failures"] >= 1
    assert "404" in rows["gone-outlet"]["last_error"]
    assert sum(r["items_total"] for r in rows.values()) == 63


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
    assert "gone-outlet" in text  # the failing feed is listed


def test_a_quiet_day_says_so(replayed: dict[str, Any]) -> None:
    out = replayed["tmp"] / "quiet.html"
    CliRunner().invoke(main, ["digest", "-c", str(replayed["config"]), "--date", "2024-01-01", "--out", str(out)])
    assert "Quiet day" in out.read_text(encoding="utf-8")

"""End to end (the `replayed` fixture in conftest.py): the dev corpus replayed in publication order (12-hour steps, one `newswatch run` per step) on
a real local server, the real model, Prefect and a real DuckDB file; then the CLI reads what it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow  # every test replays a corpus through Prefect and the model

ALL_FLOORS = json.loads((PROJECT_ROOT / "benchmarks" / "quality_floors.json").read_text())
FLOORS = ALL_FLOORS["dev"]
CORPORA = PROJECT_ROOT / "tests" / "data" / "corpus"


def _holds_floors(report: Any, floors: dict[str, Any]) -> None:
    details = "\n".join(f"{a.verdict} {a.kind} {a.url}" for a in report.alerts)
    assert report.alerted_incidents >= floors["min_alerted_incidents"], details
    assert report.duplicate_alerts <= floors["max_duplicate_alerts"], details
    assert report.false_alerts <= floors["max_false_alerts"], details
    assert all(rank <= floors["max_alert_rank"] for rank in report.alert_ranks.values()), report.alert_ranks
    assert report.relevance.f1 >= floors["min_relevance_f1"], report.relevance
    assert report.bcubed.f1 >= floors["min_bcubed_f1"], report.bcubed
    if floors["non_english_must_join"]:
        assert all(report.non_english_assigned.values()), report.non_english_assigned


def test_replaying_the_dev_corpus_holds_its_floors(replayed: dict[str, Any]) -> None:
    _holds_floors(replayed["report"], FLOORS)
    assert not replayed["report"].false_alerts_by_kind, replayed["report"].false_alerts_by_kind


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


@pytest.mark.parametrize("corpus", ["dev-late2025", "dev-winter2024"])
def test_each_labeled_corpus_holds_its_floors(corpus: str, prefect_harness: None, tmp_path: Path) -> None:
    """`newswatch eval` replays the corpus through the real pipeline; its scores hold the corpus's floors."""
    from pipeline.evaluation import EvalReport

    result = CliRunner().invoke(main, ["eval", str(CORPORA / corpus), "--json", "--warehouse-dir", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = EvalReport.from_dict(json.loads(result.stdout)[corpus])
    _holds_floors(report, ALL_FLOORS[corpus])

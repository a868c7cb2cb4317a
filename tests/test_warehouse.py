"""The warehouse: migrations applied once, the public views and their columns, read-only access."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import warehouse.articles
import warehouse.connection
import warehouse.cycles
import warehouse.incidents
import warehouse.queries
from pipeline.errors import WarehouseBusy, WarehouseError
from warehouse.migrate import available_migrations

CONTRACT = {
    "v_articles": ["url", "feed", "title", "published_at", "lang", "status", "relevant", "incident_id"],
    "v_incidents": ["incident_id", "title", "first_seen_at", "last_seen_at", "first_article_url", "article_count",
                    "source_count", "country", "intruder"],
    "v_alerts": ["alert_id", "incident_id", "article_url", "channel", "status", "created_at", "sent_at"],
    "v_feed_health": ["feed", "url", "last_polled_at", "last_status", "consecutive_failures", "last_error",
                      "items_total"],
}


def test_the_public_views_have_the_documented_columns_in_order(tmp_path: Path) -> None:
    with warehouse.connection.open_warehouse(tmp_path / "w.duckdb") as con:
        for view, columns in CONTRACT.items():
            names = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
            assert names[: len(columns)] == columns, view


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with warehouse.connection.open_warehouse(path):
        pass
    with warehouse.connection.open_warehouse(path) as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
    assert versions == [v for v, _, _ in available_migrations()]


def test_a_read_only_connection_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with warehouse.connection.open_warehouse(path):
        pass
    with warehouse.connection.open_warehouse(path, read_only=True) as con:
        with pytest.raises(WarehouseError):
            warehouse.queries.query(con, "DELETE FROM articles")


def test_reading_a_warehouse_that_does_not_exist_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="newswatch run"):
        warehouse.connection.connect(tmp_path / "none.duckdb", read_only=True)


def test_a_held_file_is_reported_busy_after_the_timeout(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    with warehouse.connection.open_warehouse(path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy, match="busy"):
            warehouse.connection.connect(path, busy_timeout_seconds=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(duckdb.connect(str(path)), duckdb.DuckDBPyConnection)


def test_an_opener_waiting_for_a_held_file_says_so_and_the_holder_can_let_it_in(tmp_path: Path) -> None:
    """The handshake behind the cycle's hold (flows/resources.py): a holder that closes the file when someone
    waits lets that opener in long before its busy timeout."""
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    with warehouse.connection.open_warehouse(path):
        pass
    assert not warehouse.connection.openers_waiting(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; import warehouse.connection; c = duckdb.connect({str(path)!r}); "
         f"print('held', flush=True)\nwhile not warehouse.connection.openers_waiting({str(path)!r}): time.sleep(0.01)\n"
         "c.close(); print('let in', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        con = warehouse.connection.connect(path, busy_timeout_seconds=60)  # knocks, and gets in once the holder lets go
        assert holder.stdout.readline().strip() == "let in"
        assert not warehouse.connection.openers_waiting(path)  # in: no longer waiting
        con.close()
    finally:
        holder.kill()
        holder.wait()


def test_the_assignment_fingerprint_changes_with_new_assignments_and_with_analyst_corrections(tmp_path: Path) -> None:
    """A kept incident index (flows/resources.py, flows/stages.py) is trusted only while the fingerprint it saw still holds."""
    from datetime import UTC, datetime

    from pipeline.models import AssignmentRecord, IncidentRecord

    at = datetime(2025, 9, 10, 6, 0, tzinfo=UTC)
    with warehouse.connection.open_warehouse(tmp_path / "nw.duckdb") as con:
        empty = warehouse.incidents.assignment_fingerprint(con)
        incidents = [IncidentRecord(f"inc-{i}", f"Drones over {i}", f"a{i}", at, "Poland", "drone") for i in (1, 2)]
        records = [AssignmentRecord(f"a{i}", f"inc-{i}", 1.0, None, True, {"drone": 1}) for i in (1, 2)]
        warehouse.incidents.save_assignments(con, incidents, records, (2, [("drone", 2)]), at)
        saved = warehouse.incidents.assignment_fingerprint(con)
        assert saved != empty
        assert warehouse.incidents.assignment_fingerprint(con) == saved  # reading changes nothing
        warehouse.incidents.merge_incidents(con, "inc-1", "inc-2", reason="same night", actor="analyst", at=at)
        assert warehouse.incidents.assignment_fingerprint(con) != saved


def test_pending_ingest_is_seen_at_every_stage_until_the_article_is_assigned(tmp_path: Path) -> None:
    """A quiet cycle skips fetch/embed/judge/assign only when no stage has anything left (flows/cycle.py)."""
    from datetime import UTC, datetime

    import numpy as np

    from pipeline.models import AssignmentRecord, Extraction, FeedEntry, FetchOutcome, IncidentRecord, Judgement

    now = datetime(2025, 9, 10, 6, 0, tzinfo=UTC)
    model = "all-MiniLM-L6-v2"
    entry = FeedEntry("a1", "wire", "g1", "http://wire.test/a1", "Drones over Rzeszow", "", now, "en")
    with warehouse.connection.open_warehouse(tmp_path / "nw.duckdb") as con:
        assert not warehouse.cycles.has_pending_ingest(con, now, model)
        warehouse.articles.upsert_entries(con, [entry], now)
        assert warehouse.cycles.has_pending_ingest(con, now, model)  # to fetch
        warehouse.articles.save_articles(con, [FetchOutcome(entry, None, Extraction(
            "ok", "", entry.title, "Drones crossed into Polish airspace overnight.", now, "en", "precision"), now)])
        assert warehouse.cycles.has_pending_ingest(con, now, model)  # to embed
        warehouse.articles.insert_embeddings(con, model, ["a1"], np.ones((1, 384), dtype=np.float32), now)
        assert warehouse.cycles.has_pending_ingest(con, now, model)  # to judge
        warehouse.articles.insert_judgements(con, [Judgement("a1", True, 1.0, "cue", True, "Poland", "drone")], now)
        assert warehouse.cycles.has_pending_ingest(con, now, model)  # to assign
        warehouse.incidents.save_assignments(con, [IncidentRecord("inc-1", entry.title, "a1", now, "Poland", "drone")],
                               [AssignmentRecord("a1", "inc-1", 1.0, None, True, {"drone": 1})], (1, [("drone", 1)]), now)
        assert not warehouse.cycles.has_pending_ingest(con, now, model)


def test_a_judgement_comes_back_for_assignment_with_its_state_day_and_analysis_verdict(tmp_path: Path) -> None:
    """What the assign stage reads is what the judge stage wrote, so a cron-run cycle decides as one process would:
    the named state, the stated day and whether the article is a sure analysis piece (it joins no incident)."""
    from datetime import UTC, date, datetime

    import numpy as np

    from pipeline.models import Extraction, FeedEntry, FetchOutcome, Judgement

    now = datetime(2025, 9, 10, 6, 0, tzinfo=UTC)
    model = "all-MiniLM-L6-v2"
    entries = [FeedEntry(k, "wire", k, f"http://wire.test/{k}", title, "", now, "en")
               for k, title in (("r", "Drones over Rzeszow"), ("why", "Why drones keep crossing into Poland"))]
    judged = [Judgement("r", True, 1.0, "report", True, "Poland", "drones", date(2025, 9, 9)),
              Judgement("why", True, 0.9, "analysis", False, "Poland", "drones", None, analysis=True)]
    with warehouse.connection.open_warehouse(tmp_path / "nw.duckdb") as con:
        warehouse.articles.upsert_entries(con, entries, now)
        warehouse.articles.save_articles(con, [FetchOutcome(e, None, Extraction(
            "ok", "", e.title, "Drones crossed into Polish airspace overnight.", now, "en", "precision"), now)
            for e in entries])
        warehouse.articles.insert_embeddings(con, model, ["r", "why"], np.ones((2, 384), dtype=np.float32), now)
        warehouse.articles.insert_judgements(con, judged, now)
        assert [j for _, _, j in warehouse.incidents.pending_assignments(con, model)] == judged

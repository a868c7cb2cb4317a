"""The warehouse: migrations applied once, the public views and their columns, read-only access."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.errors import WarehouseBusy, WarehouseError
from warehouse import store
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
    with store.open_warehouse(tmp_path / "w.duckdb") as con:
        for view, columns in CONTRACT.items():
            names = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
            assert names[: len(columns)] == columns, view


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with store.open_warehouse(path):
        pass
    with store.open_warehouse(path) as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
    assert versions == [v for v, _, _ in available_migrations()]


def test_a_read_only_connection_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with store.open_warehouse(path):
        pass
    with store.open_warehouse(path, read_only=True) as con:
        with pytest.raises(WarehouseError):
            store.query(con, "DELETE FROM articles")


def test_reading_a_warehouse_that_does_not_exist_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="newswatch run"):
        store.connect(tmp_path / "none.duckdb", read_only=True)


def test_a_held_file_is_reported_busy_after_the_timeout(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    with store.open_warehouse(path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy, match="busy"):
            store.connect(path, busy_timeout_seconds=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(duckdb.connect(str(path)), duckdb.DuckDBPyConnection)

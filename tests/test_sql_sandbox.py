"""`newswatch sql` is read-only by construction: DuckDB opens the file read-only with external access disabled
and its configuration locked, so writes, ATTACH, COPY ... TO, INSTALL/LOAD, settings and reads of other files
are refused with one `Error:` line, on the snapshot and on the live file. `newswatch export` writes a view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.csv
import pyarrow.parquet
import pytest
from click.testing import CliRunner

import warehouse.connection
import warehouse.paths
import warehouse.queries
from flows.cli import main
from pipeline.settings import load_settings
from tests.outbox_servers import raise_outbox, seed_two_incidents


@pytest.fixture
def analyst_db(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "nw.duckdb"
    config = tmp_path / "nw.toml"
    config.write_text(f'[warehouse]\npath = "{path}"\nbusy_timeout_seconds = 2\n'
                      '[alerts]\nchannels = [{ name = "log", type = "log" }]\n', encoding="utf-8")
    settings = load_settings([config], environ={})
    seed_two_incidents(str(path))
    raise_outbox(settings)
    with warehouse.connection.open_warehouse(path) as con:
        warehouse.queries.publish_snapshot(con, path)
    return {"path": path, "config": config, "tmp": tmp_path}


def alert_count(path: Path) -> int:
    with warehouse.connection.open_warehouse(path, read_only=True) as con:
        return int(warehouse.queries.query(con, "SELECT count(*) FROM v_alerts")[1][0][0])


def sql(analyst_db: dict[str, Any], query: str, *extra: str) -> Any:
    return CliRunner().invoke(main, ["sql", "-c", str(analyst_db["config"]), *extra, query])


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize("live", [False, True], ids=["snapshot", "live"])
def test_attach_read_write_and_delete_are_refused_and_nothing_changes(analyst_db: dict[str, Any], live: bool) -> None:
    before = alert_count(analyst_db["path"])
    assert before == 2
    live_file, snapshot = analyst_db["path"], warehouse.paths.snapshot_path(analyst_db["path"])
    for query in (f"ATTACH '{live_file}' AS live (READ_WRITE); DELETE FROM live.main.alerts",
                  f"ATTACH '{snapshot}' AS snap (READ_WRITE); DELETE FROM snap.main.alerts",
                  f"ATTACH '{snapshot if live else live_file}' AS other (READ_ONLY)",
                  "DELETE FROM alerts", "UPDATE alerts SET status = 'sent'", "DROP VIEW v_alerts",
                  "CREATE TABLE t AS SELECT 1"):
        result = sql(analyst_db, query, *(["--live"] if live else []))
        assert result.exit_code == 1
        assert "refused: queries are read-only" in one_error_line(result.output), query
    assert alert_count(analyst_db["path"]) == before
    with warehouse.connection.open_warehouse(warehouse.paths.snapshot_path(analyst_db["path"]), read_only=True) as con:
        assert warehouse.queries.query(con, "SELECT count(*) FROM v_alerts")[1][0][0] == before


@pytest.mark.parametrize("query", [
    "COPY (SELECT * FROM v_alerts) TO '{out}'",
    "COPY alerts TO '{out}' (FORMAT parquet)",
    "EXPORT DATABASE '{out}'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "INSTALL httpfs",
    "LOAD fts",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "RESET lock_configuration",
    "ATTACH '{out}' AS other",
])
def test_file_access_extensions_and_settings_are_refused(analyst_db: dict[str, Any], query: str) -> None:
    out = analyst_db["tmp"] / "stolen.csv"
    result = sql(analyst_db, query.format(out=out))
    assert result.exit_code == 1
    assert "refused: queries are read-only" in one_error_line(result.output)
    assert not out.exists()
    assert sorted(p.name for p in analyst_db["tmp"].iterdir()) == ["nw.duckdb", "nw.read.duckdb", "nw.toml"]


def test_reading_the_views_still_works(analyst_db: dict[str, Any]) -> None:
    result = sql(analyst_db, "select incident_id, status from v_alerts order by incident_id", "--csv")
    assert result.exit_code == 0 and "inc-ee,sent" in result.output and "inc-pl,sent" in result.output


def test_bad_sql_is_one_error_line(analyst_db: dict[str, Any]) -> None:
    result = sql(analyst_db, "select from where")
    assert result.exit_code == 1 and "query failed: Parser Error" in one_error_line(result.output)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_view_is_exported_to_a_file(analyst_db: dict[str, Any], fmt: str) -> None:
    out = analyst_db["tmp"] / f"alerts.{fmt}"
    result = CliRunner().invoke(main, ["export", "-c", str(analyst_db["config"]), "v_alerts", "--format", fmt,
                                       "--output", str(out)])
    assert result.exit_code == 0, result.output
    table = pyarrow.parquet.read_table(out) if fmt == "parquet" else pyarrow.csv.read_csv(out)
    assert table.num_rows == 2 and sorted(table.column("incident_id").to_pylist()) == ["inc-ee", "inc-pl"]
    assert [p.name for p in analyst_db["tmp"].iterdir() if ".tmp" in p.name] == []


def test_exporting_an_unknown_view_or_to_a_missing_directory_is_one_error_line(analyst_db: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["export", "-c", str(analyst_db["config"]), "alerts", "--output",
                                       str(analyst_db["tmp"] / "a.parquet")])
    line = one_error_line(result.output)
    assert result.exit_code == 1 and "no view 'alerts'" in line and "v_alerts" in line
    missing = analyst_db["tmp"] / "no-such-dir" / "a.csv"
    result = CliRunner().invoke(main, ["export", "-c", str(analyst_db["config"]), "v_alerts", "--format", "csv",
                                       "--output", str(missing)])
    line = one_error_line(result.output)
    assert result.exit_code == 1 and f"cannot write {missing}" in line

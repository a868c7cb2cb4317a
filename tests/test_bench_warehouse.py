"""Smoke test of benchmarks/bench_warehouse.py: a 2,000-article synthetic warehouse is built by the real
migrations, and every query of docs/queries.md plus each public view runs on it and answers with its columns
(no timing assertions: speed goals live in the benchmark's results, not in unit tests)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import duckdb

from pipeline.settings import PROJECT_ROOT
from tests.test_queries import QUERIES
from warehouse.migrate import available_migrations

BENCH = PROJECT_ROOT / "benchmarks" / "bench_warehouse.py"


def _bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_warehouse", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_warehouse", module)
    spec.loader.exec_module(module)
    return module


def _columns(sql: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    """The columns DuckDB says the query returns, from its plan alone."""
    return [d[0] for d in con.execute(f"DESCRIBE {sql.strip().rstrip(';')}").fetchall()]


def test_benchmark_times_exactly_the_documented_queries() -> None:
    assert _bench_module().read_queries() == QUERIES


def test_tiny_synthetic_warehouse_answers_every_documented_query(tmp_path: Path) -> None:
    bench = _bench_module()
    db, out = tmp_path / "bench.duckdb", tmp_path / "result.json"
    assert bench.main(["--articles", "2000", "--feeds", "40", "--reps", "1", "--db", str(db), "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))

    rows = result["build"]["rows"]
    assert rows["articles"] == 2000 and rows["entries"] >= 2000
    assert 0 < rows["judgements"] <= 2000 and rows["incidents"] > 0 and rows["alerts"] > 0
    assert rows["embeddings"] > rows["judgements"]  # MiniLM for every judged article, e5 for the relevant ones
    assert result["build"]["migrations"] == [name for _, name, _ in available_migrations()]
    assert result["file_mb"] > 0

    by_name = {q["name"]: q for q in result["queries"]}
    con = duckdb.connect(str(db), read_only=True)
    try:
        for title, sql in QUERIES:
            ran = by_name[title]
            assert ran["columns"] == _columns(sql, con), title
            assert ran["rows"] >= 1, f"{title}: no rows on the synthetic warehouse"
            assert ran["exec_s"] >= 0
        for view in bench.VIEWS:
            scan = by_name[f"{view}: full scan"]
            assert scan["columns"] == _columns(f"SELECT * FROM {view}", con)
            assert scan["rows"] >= 1, view
        assert by_name["v_incidents: count"]["rows"] == 1
        incidents = con.execute("SELECT count(*) FROM v_incidents").fetchone()
        assert incidents is not None and by_name["v_incidents: full scan"]["rows"] == incidents[0]
    finally:
        con.close()

"""Numbered SQL migrations (warehouse/migrations/NNNN_name.sql), each applied once, in its own transaction.

With the table modules beside it (feeds, articles, incidents, outbox, ...), the only code that runs SQL. Never edit a migration once merged: add the next number.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import duckdb

from pipeline.errors import WarehouseError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@functools.lru_cache(maxsize=1)
def available_migrations() -> tuple[tuple[int, str, str], ...]:
    """(version, file name, SQL) for every shipped migration, in order. Read once per process: every open of
    the warehouse checks them (a cycle opens it a dozen times)."""
    found = []
    for item in resources.files("warehouse").joinpath("migrations").iterdir():
        match = _NAME.match(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise WarehouseError(f"two migrations share a number: {versions}")
    return tuple(found)


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations this file has not seen yet; returns their names. Each is all-or-nothing."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    available = available_migrations()
    for version, name, sql in available:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WarehouseError(f"migration {name} failed: {exc}") from exc
        applied.append(name)
    if done and max(done) > max((v for v, _, _ in available), default=0):
        raise WarehouseError(
            f"this warehouse was migrated by a newer newswatch (version {max(done)}); upgrade newswatch"
        )
    return applied

"""The files derived from the warehouse path, named in one place: its write-ahead log, the analysts' snapshot,
the cycle lock and the file a waiting opener knocks on. Pure path arithmetic: nothing is opened or created."""

from __future__ import annotations

import os
from pathlib import Path


def wal_path(path: str | Path) -> Path:
    """DuckDB's write-ahead log of the database file `path`: `<path>.wal`."""
    return Path(str(path) + ".wal")


def database_files(path: str | Path) -> tuple[Path, Path]:
    """The files that together hold the database `path`: the file itself and its write-ahead log."""
    return Path(path), wal_path(path)


def snapshot_path(warehouse_path: str | Path) -> Path:
    """Where the analysts' read-only copy of `warehouse_path` lives: `<name>.read.duckdb` beside it."""
    p = Path(warehouse_path)
    return p.with_name(p.stem + ".read" + (p.suffix or ".duckdb"))


def snapshot_temp_path(warehouse_path: str | Path) -> Path:
    """This process's copy of the snapshot while it is written, moved over the snapshot when complete."""
    target = snapshot_path(warehouse_path)
    return target.with_name(target.name + f".tmp{os.getpid()}")


def is_snapshot(path: str | Path) -> bool:
    """Whether `path` names an analysts' snapshot (or its temporary copy or write-ahead log)."""
    return ".read." in Path(path).name


def lock_path(warehouse_path: str | Path) -> Path:
    """The cycle lock beside the warehouse: one process runs cycles on it at a time (`<path>.lock`)."""
    return Path(str(warehouse_path) + ".lock")


def wait_path(warehouse_path: str | Path) -> Path:
    """The file an opener waiting for the warehouse holds a shared lock on (`<path>.wait`), so the process
    holding the warehouse knows to hand it over."""
    return Path(str(warehouse_path) + ".wait")

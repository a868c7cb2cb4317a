"""Opening the warehouse: the one opener (busy timeout, knocking while waiting, migrations), the
unit-of-work context, transactions, full-disk translation and the bulk-write helpers every table module uses."""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.errors import DiskFull, WarehouseBusy, WarehouseError
from warehouse.migrate import apply_migrations
from warehouse.paths import is_snapshot, wait_path

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
_NO_SPACE_MARKERS = ("No space left on device", "Disk quota exceeded", "disk is full")


_WRITTEN_FILE = re.compile(r'(?:write|create|open|truncate|sync|extend)\w* (?:to )?(?:file |directory )?"([^"]+)"', re.I)


def disk_full(exc: BaseException, path: str | Path) -> DiskFull | None:
    """`exc` (a DuckDB or OS error) as DiskFull naming the file that could not be written (DuckDB's message names
    it; else `path`), or None when `exc` is not about a full disk."""
    message = str(exc)
    if not any(m in message for m in _NO_SPACE_MARKERS):
        return None
    found = _WRITTEN_FILE.search(message)
    name = found.group(1) if found else getattr(exc, "filename", None) or str(path)
    if name.endswith(".wal"):
        what = "the write-ahead log"
    elif is_snapshot(name):
        what = "the analysts' snapshot"
    elif name.endswith(".tmp") or ".tmp" in Path(name).name:
        what = "temporary data"
    else:
        what = "the warehouse"
    return DiskFull(name, what)


def _connect_once(path: str, read_only: bool, memory_limit_mb: int | None, threads: int | None,
                  sandboxed: bool = False) -> duckdb.DuckDBPyConnection:
    # sandboxed: DuckDB's own guards, not an inspection of statements: no file but this one is opened, read or
    # written (ATTACH, COPY ... TO, EXPORT, read_csv, INSTALL/LOAD refused), and the configuration is locked so no
    # statement can lift that
    con = duckdb.connect(path, read_only=read_only, config={"enable_external_access": False} if sandboxed else {})
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit_mb is not None:
        con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if sandboxed:
        con.execute("SET lock_configuration = true")
    return con


def _one_line(exc: BaseException) -> str:
    """A DuckDB message on one line (its parser errors add the statement and a caret on lines of their own)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    return " ".join(line for line in lines if line and set(line) != {"^"})


def connect(path: str | Path, *, read_only: bool = False, busy_timeout_seconds: float = 60.0,
            memory_limit_mb: int | None = None, threads: int | None = None, sandboxed: bool = False,
            create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating it, unless `create` is False, and applying migrations when writable), waiting
    up to `busy_timeout_seconds` while another process holds it. `memory_limit_mb` caps DuckDB's memory (its page
    cache) and `threads` its worker threads, for the whole open database; None keeps DuckDB's default.
    `sandboxed` (analysts' SQL; implies read_only): read-only access, external access disabled, configuration
    locked. While it waits it says so (`openers_waiting`), and a running cycle hands the file over at its next unit
    of work. Raises WarehouseBusy, WarehouseError (also when the file is missing and must not be created)."""
    path = str(path)
    read_only = read_only or sandboxed
    if Path(path).is_dir():
        raise WarehouseError(f"warehouse {path} is a directory, not a DuckDB file (see warehouse.path)")
    if read_only or not create:
        if not Path(path).exists():
            raise WarehouseError(f"no warehouse at {path} (check warehouse.path; `newswatch run` or "
                                 "`newswatch demo` creates it)")
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + busy_timeout_seconds
    delay = 0.05
    knock: int | None = None  # while waiting: a shared lock on <path>.wait (see openers_waiting)
    knocked = False
    try:
        while True:
            try:
                con = _connect_once(path, read_only, memory_limit_mb, threads, sandboxed)
                break
            except duckdb.IOException as exc:
                if not any(m in str(exc) for m in _LOCK_MARKERS):
                    raise WarehouseError(f"cannot open warehouse {path}: {_one_line(exc)}") from exc
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(path, str(exc).splitlines()[0]) from exc
                if not knocked:
                    knock, knocked = _knock(path), True
                time.sleep(delay)
                delay = min(delay * 2, 0.25)  # the holder hands the file over between units of work: be there
            except duckdb.Error as exc:
                raise disk_full(exc, path) or WarehouseError(
                    f"cannot open warehouse {path}: {_one_line(exc)}") from exc
    finally:
        if knock is not None:
            os.close(knock)  # releases the lock
    if not read_only:
        try:
            apply_migrations(con)
        except duckdb.Error as exc:
            con.close()
            full = disk_full(exc, path)
            if full is None:
                raise
            raise full from exc
    return con


def _knock(path: str) -> int | None:
    """Tell the process holding the warehouse that an opener waits: a shared lock on `<path>.wait`, held until
    the descriptor returned is closed (or the process dies). None when the file cannot be made (a read-only
    directory): the opener then waits unannounced, for the holder's next pause."""
    try:
        fd = os.open(wait_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)  # only ever blocks for the holder's instant test in openers_waiting
    return fd


def openers_waiting(path: str | Path) -> bool:
    """Whether another connect() (any process: a CLI writer, `newswatch sql --live`) is waiting for the warehouse
    at `path`. A long-running holder asks this between units of work and, when true, closes its connections so
    the waiting opener gets the file. One flock test, cheap enough to ask often; no file is created."""
    try:
        fd = os.open(wait_path(str(path)), os.O_RDONLY)
    except OSError:  # no such file: nobody ever waited
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the exclusive lock taken when nobody waited
    return False


@contextmanager
def open_warehouse(path: str | Path, *, read_only: bool = False, busy_timeout_seconds: float = 60.0,
                   memory_limit_mb: int | None = None, threads: int | None = None, sandboxed: bool = False,
                   create: bool = True
                   ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one unit of work, closed (file released) afterwards (arguments: see `connect`)."""
    con = connect(path, read_only=read_only, busy_timeout_seconds=busy_timeout_seconds,
                  memory_limit_mb=memory_limit_mb, threads=threads, sandboxed=sandboxed, create=create)
    try:
        yield con
    except duckdb.Error as exc:  # a full disk, wherever the unit of work wrote: one error naming the file
        full = disk_full(exc, path)
        if full is None:
            raise
        raise full from exc
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def execute_many(con: duckdb.DuckDBPyConnection, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """executemany that accepts an empty batch (duckdb refuses one)."""
    if rows:
        con.executemany(sql, [list(r) for r in rows])


@contextmanager
def arrow_rows(con: duckdb.DuckDBPyConnection, name: str, columns: Mapping[str, Sequence[object] | pa.Array]
                ) -> Iterator[bool]:
    """Expose the rows `columns` (column -> values, or a ready Arrow array such as vectors) to SQL as view `name`
    for the duration of the block; yields False when there are no rows. Datetimes are stored in UTC.

    duckdb's executemany runs one statement per row, slow with a primary key; one statement over an Arrow scan
    writes thousands of rows at once (benchmarks/PERFORMANCE.md, "Costs behind choices in the code")."""
    arrays = {c: v if isinstance(v, pa.Array) else pa.array([utc(x) if isinstance(x, datetime) else x for x in v])
              for c, v in columns.items()}
    if not arrays or len(next(iter(arrays.values()))) == 0:
        yield False
        return
    con.register(name, pa.table(arrays))
    try:
        yield True
    finally:
        con.unregister(name)


def bulk_insert(con: duckdb.DuckDBPyConnection, table: str, columns: Mapping[str, Sequence[object] | pa.Array],
                conflict: str = "", casts: Mapping[str, str] | None = None) -> None:
    """INSERT INTO table (columns) SELECT ... FROM the rows, in one statement. `casts` gives a column's SQL type
    when Arrow's is not the table's (FLOAT[384] -> FLOAT[]); `conflict` is the ON CONFLICT clause."""
    view = f"_rows_{table}"
    with arrow_rows(con, view, columns) as any_rows:
        if any_rows:
            select = ", ".join(f"{c}::{casts[c]}" if casts and c in casts else c for c in columns)
            con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {view} {conflict}")


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

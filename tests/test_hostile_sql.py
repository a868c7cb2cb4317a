"""Input hygiene: nothing from a feed reaches SQL except as a bound parameter. An audit of the warehouse code: every
SQL string passed to execute/executemany is a literal, or an f-string interpolating only vetted constants."""

from __future__ import annotations

import ast

from pipeline.settings import PROJECT_ROOT

# Interpolations allowed in SQL text, with why: none of them can carry feed data.
VETTED = {
    "ARTICLE_COLUMNS": "a constant column list",
    "_DAY_INCIDENTS": "a constant subquery (the digest day's incidents; its bounds are bound parameters)",
    "', '.join(_CYCLE_COLS)": "the cycles table's columns: the field names of the CycleRecord dataclass",
    "', '.join('?' * len(_CYCLE_COLS))": "one ? placeholder per cycles column",
    "updates": "insert_cycle: 'col = excluded.col' for those same constant column names",
    "tmp.as_posix()": "the snapshot file path, derived from warehouse.path (operator config), never from a feed",
    "catalog": "the name DuckDB gives the open database file (current_database())",
    "int(memory_limit_mb)": "an integer (warehouse.memory_limit_mb, validated operator config)",
    "int(threads)": "an integer (warehouse.threads, validated operator config)",
    "outbox": "an outbox table name, one of the keys of the constant _OUTBOX_KEYS",
    "key": "the idempotency-key column of that table, from _OUTBOX_KEYS",
    # warehouse.connection.bulk_insert: every call site passes literals (checked below)
    "table": "bulk_insert: a table name, a string literal at every call site",
    "', '.join(columns)": "bulk_insert: column names, the literal keys of a dict literal at every call site",
    "select": "bulk_insert: those column names, with SQL types from a literal casts dict",
    "view": "bulk_insert: '_rows_' + the table name",
    "conflict": "bulk_insert: an ON CONFLICT clause, a string literal at every call site",
}


def _sql_calls() -> list[tuple[str, int, ast.expr]]:
    found = []
    for path in sorted((PROJECT_ROOT / "warehouse").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany") and node.args):
                found.append((path.name, node.lineno, node.args[0]))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "execute_many":
                found.append((path.name, node.lineno, node.args[1]))
    return found


def test_sql_text_never_interpolates_anything_but_vetted_constants() -> None:
    calls = _sql_calls()
    assert len(calls) > 30
    for name, line, arg in calls:
        if isinstance(arg, ast.JoinedStr):
            for part in arg.values:
                if isinstance(part, ast.FormattedValue):
                    assert ast.unparse(part.value) in VETTED, f"{name}:{line} interpolates {ast.unparse(part.value)}"
        elif not isinstance(arg, ast.Constant):
            # a variable: must be a module-level literal or a parameter documented as analyst SQL (queries.query)
            assert isinstance(arg, ast.Name) and arg.id in ("sql",), f"{name}:{line}: SQL from {ast.unparse(arg)}"


def test_every_bulk_insert_names_its_table_columns_and_conflict_clause_as_literals() -> None:
    """`warehouse.connection.bulk_insert` puts its table, column names, casts and ON CONFLICT clause into SQL
    text: each must be a literal where it is called, so rows (feed data) only ever travel as Arrow values."""
    calls = [(path.name, n) for path in sorted((PROJECT_ROOT / "warehouse").glob("*.py"))
             for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "bulk_insert"]
    assert len(calls) >= 8
    for name, call in calls:
        where = f"{name}:{call.lineno}"
        table, columns, *rest = call.args[1:]
        assert isinstance(table, ast.Constant) and isinstance(table.value, str), where
        assert isinstance(columns, ast.Dict) and all(isinstance(k, ast.Constant) for k in columns.keys), where
        for conflict in [*rest, *(k.value for k in call.keywords if k.arg == "conflict")]:
            assert isinstance(conflict, ast.Constant) and isinstance(conflict.value, str), where
        for casts in (k.value for k in call.keywords if k.arg == "casts"):
            assert isinstance(casts, ast.Dict), where
            assert all(isinstance(x, ast.Constant) for x in [*casts.keys, *casts.values]), where

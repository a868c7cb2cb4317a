"""Input hygiene: nothing from a feed reaches SQL except as a bound parameter. An audit of the warehouse code: every
SQL string passed to execute/executemany is a literal, or an f-string interpolating only vetted constants."""

from __future__ import annotations

import ast

from pipeline.settings import PROJECT_ROOT

# Interpolations allowed in SQL text, with why: none of them can carry feed data.
VETTED = {
    "_ARTICLE_COLS": "a constant column list",
    "tmp.as_posix()": "the snapshot file path, derived from warehouse.path (operator config), never from a feed",
    "catalog": "the name DuckDB gives the open database file (current_database())",
    "outbox": "an outbox table name, one of the keys of the constant _OUTBOX_KEYS",
    "key": "the idempotency-key column of that table, from _OUTBOX_KEYS",
}


def _sql_calls() -> list[tuple[str, int, ast.expr]]:
    found = []
    for path in sorted((PROJECT_ROOT / "warehouse").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany") and node.args):
                found.append((path.name, node.lineno, node.args[0]))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_many":
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
            # a variable: must be a module-level literal or a parameter documented as analyst SQL (store.query)
            assert isinstance(arg, ast.Name) and arg.id in ("sql",), f"{name}:{line}: SQL from {ast.unparse(arg)}"

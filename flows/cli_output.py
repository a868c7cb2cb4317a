"""How listing commands print rows: one `--format table|csv|json` convention. Tables for people (rich, cell
text never read as markup), CSV with LF line endings and JSON for programs. Composition only: no SQL."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import click

from pipeline.sanitize import clean_line

FORMATS = ("table", "csv", "json")
F = TypeVar("F", bound=Callable[..., Any])


def format_option(fn: F) -> F:
    """`--format table|csv|json` (default table), the same on every listing command."""
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="table for people; csv (LF line endings) or json (a list of objects) for programs.")(fn)


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _table_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.3f}"
    # one line per row, nothing a terminal would obey (escape sequences, bidi overrides), also in values written
    # before text was cleaned at ingestion or made by SQL (chr(27))
    return " ".join(clean_line(str(value)).split())


_GAP = 3  # rich's cell padding plus the column rule of box.SIMPLE_HEAD


def _column_widths(natural: Sequence[int], width: int | None) -> list[int]:
    """Short columns (ids, times, counts: up to 24 characters) keep their width; when the row does not fit in
    `width`, the longer text columns share what is left (at least 20 each) and wrap. None: never wrap."""
    if width is None or sum(natural) + _GAP * (len(natural) - 1) <= width:
        return list(natural)
    wide = [i for i, w in enumerate(natural) if w > 24]
    left = width - _GAP * (len(natural) - 1) - sum(w for i, w in enumerate(natural) if i not in wide)
    total = sum(natural[i] for i in wide) or 1
    return [max(20, min(w, left * w // total)) if i in wide else w for i, w in enumerate(natural)]


def _write_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [[_table_cell(v) for v in row] for row in rows]
    natural = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    # On a terminal long text wraps to its width; into a pipe or file each row stays one line, however long.
    terminal = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    widths = _column_widths(natural, terminal)
    console = Console(file=sys.stdout, highlight=False, emoji=False,
                      width=max(terminal or 0, sum(widths) + _GAP * len(widths)))
    if title:
        console.print(Text(f"-- {title}"), soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column, width in zip(columns, widths):
        table.add_column(Text(column), width=width, overflow="fold")
    for row in cells:
        table.add_row(*(Text(v) for v in row))  # Text: a title like "[red]x" stays literal
    console.print(table)


def write_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, *, title: str | None = None
               ) -> None:
    """Print one result in `fmt`; tables also say how many rows (on stderr, so pipes get the table only)."""
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r)) for r in rows], default=_json_value, ensure_ascii=False,
                              indent=1))
        return
    _write_table(columns, rows, title)
    sys.stdout.flush()
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", err=True)


def write_results(results: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]], fmt: str,
                  several: bool | None = None) -> None:
    """Print statements' results (statement, columns, rows) in order. The result of a one-statement script
    prints exactly as write_rows; those of a longer one (`several`, default: more than one result) as tables
    titled by their statement, CSV blocks separated by an empty line, JSON as a list of {"statement", "rows"}."""
    if not (len(results) > 1 if several is None else several):
        write_rows(results[0][1], results[0][2], fmt)
        return
    if fmt == "json":
        click.echo(json.dumps([{"statement": s, "rows": [dict(zip(c, r)) for r in rows]} for s, c, rows in results],
                              default=_json_value, ensure_ascii=False, indent=1))
        return
    for n, (statement, columns, rows) in enumerate(results):
        if n:
            click.echo("")
        write_rows(columns, rows, fmt, title=statement)

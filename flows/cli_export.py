"""`newswatch export VIEW --format parquet|csv --output FILE`: one public view written to a file, the legitimate use
of COPY ... TO, which `newswatch sql` refuses. Composition only: rows come from warehouse.queries through the same
sandboxed connection as `newswatch sql`; the file is written all or nothing (flows/outfiles.py)."""

from __future__ import annotations

from pathlib import Path

import click

from flows.cli import analyst_warehouse, config_option, handle_errors, live_option, main, settings_from
from flows.outfiles import save_file


def write_table(table, output: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    """Write the Arrow `table` to `output` as parquet or csv (flows.outfiles.save_file: all or nothing)."""
    import pyarrow.csv
    import pyarrow.parquet

    def write(tmp: Path) -> None:
        if fmt == "parquet":
            pyarrow.parquet.write_table(table, tmp)
        else:
            pyarrow.csv.write_csv(table, tmp)

    save_file(output, write, f"the {fmt} export")


@main.command("export")
@config_option
@click.argument("view")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True,
              help="File format.")
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (replaced if it exists).")
@live_option
@handle_errors
def export_command(config: tuple[str, ...], view: str, fmt: str, output: Path, live: bool) -> None:
    """Write one public view (v_incidents, v_articles, v_alerts, v_feed_health, ...) to a Parquet or CSV file.
    Read from the snapshot published after every cycle, like `newswatch sql` (--live: the live file).

    \b
    Example:
      newswatch export v_incidents --format parquet --output incidents.parquet
    """
    import warehouse.queries

    with analyst_warehouse(settings_from(config), live) as con:
        table = warehouse.queries.read_view(con, view)
    write_table(table, output, fmt)
    click.echo(f"wrote {table.num_rows} row{'s' if table.num_rows != 1 else ''} of {view} to {output}", err=True)

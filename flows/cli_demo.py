"""`newswatch demo`: the bundled corpus served on 127.0.0.1, one cycle through Prefect, its alerts, the digest
of the busiest day and how to query the warehouse. Composition only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from flows.cli import CommandFailed, handle_errors, main, settings_from
from flows.cli_service import run_and_report, write_digest
from pipeline.defaults import DEMO_CONFIG, DEMO_CORPUS


@main.command()
@click.option("--config", "-c", "config", multiple=True, type=click.Path(dir_okay=False),
              help="Config for the demo (default: the shipped demo.toml: data/ and out/ in the working directory).")
@click.option("--corpus", type=click.Path(file_okay=False, exists=True, path_type=Path), default=DEMO_CORPUS,
              show_default=True, help="Corpus directory in the dev-corpus layout (site/<outlet>/feed.xml).")
@click.option("--fresh/--keep", default=True, show_default=True, help="Start from an empty demo warehouse.")
@handle_errors
def demo(config: tuple[str, ...], corpus: Path, fresh: bool) -> None:
    """Serve the bundled demo corpus on 127.0.0.1, run the full pipeline through Prefect, print each
    new-incident alert, write a digest and show how to query the warehouse.

    \b
    Example:
      newswatch demo
    """
    import warehouse.connection
    import warehouse.paths
    import warehouse.queries
    from flows.corpus_server import CorpusServer

    if not (corpus / "site").is_dir():
        raise CommandFailed(f"{corpus}: not a corpus directory (no site/<outlet>/feed.xml under it)")
    paths = list(config) or [str(DEMO_CONFIG)]
    base = settings_from(paths)
    if fresh:
        for file in warehouse.paths.database_files(base.warehouse.path):
            file.unlink(missing_ok=True)
    with CorpusServer(corpus / "site") as server:
        feeds = [{"name": n, "url": u} for n, u in server.feed_urls().items()]
        settings = settings_from(paths, overrides={"feeds": feeds})
        click.echo(f"serving {len(feeds)} demo feeds from {server.base_url}; running the pipeline into "
                   f"{settings.warehouse.path} (digest: {settings.digest.out_dir}/) under {Path.cwd()} "
                   f"(first run loads the model and starts Prefect: about a minute)...", err=True)
        run_and_report(settings)
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True,
                                             busy_timeout_seconds=settings.warehouse.busy_timeout_seconds) as con:
        day = warehouse.queries.read_busiest_day(con) or datetime.now(UTC).date()
    html_path, text_path, _ = write_digest(settings, day, Path(settings.digest.out_dir) / f"digest-{day}.html")
    # Without -c the settings are the shipped demo.toml inside the install: name its warehouse instead.
    cfg = "".join(f"-c {p} " for p in config) if config else ""
    env = "" if config else f"NEWSWATCH_WAREHOUSE__PATH={settings.warehouse.path} "
    click.echo(f"\nDigest for {day} (the busiest day): {html_path.resolve()}\n  and as text: {text_path.resolve()}")
    click.echo(f"Warehouse: {Path(settings.warehouse.path).resolve()}\n  query it: {env}newswatch sql {cfg}"
               f"\"select title, country, intruder, source_count from v_incidents\"\n"
               f"  or: duckdb -readonly {warehouse.paths.snapshot_path(settings.warehouse.path)} \"select * from v_alerts\"")

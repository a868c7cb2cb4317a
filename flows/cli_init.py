"""`newswatch init DIR`: a starter config (every setting documented with its default, generated from the typed
settings) and a feed list to begin with. Composition only: the text comes from pipeline.starter_config."""

from __future__ import annotations

from pathlib import Path

import click

from flows.cli import CommandFailed, handle_errors, main
from pipeline.defaults import SHIPPED_FEEDS
from pipeline.starter_config import FEEDS_FILE, render_feeds_stub, render_starter_config

CONFIG_FILE = "newswatch.toml"


@main.command("init")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def init(directory: Path) -> None:
    """Write DIR/newswatch.toml, every setting with its meaning and default (commented out: uncomment what you
    change), and DIR/feeds.toml, the shipped list of public feeds for you to edit. DIR is created if needed;
    existing files are never overwritten. Then run with `-c DIR/newswatch.toml` (or set NEWSWATCH_CONFIG).

    \b
    Example:
      newswatch init config && newswatch config show -c config/newswatch.toml
    """
    targets = {directory / CONFIG_FILE: render_starter_config(),
               directory / FEEDS_FILE: render_feeds_stub(SHIPPED_FEEDS.read_text(encoding="utf-8"))}
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise CommandFailed(f"{', '.join(existing)}: already there, not overwritten (init into another directory, "
                            "or move the file away)")
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        with path.open("x", encoding="utf-8") as fh:  # "x": never clobber a file that appeared meanwhile
            fh.write(text)
    config = directory / CONFIG_FILE
    click.echo(f"wrote {config} (every setting, commented out with its default) and {directory / FEEDS_FILE} "
               f"(the feeds to poll)\nnext: newswatch config show -c {config}\n      newswatch run -c {config}")

"""`newswatch config show`: the settings a command would run with, each with its source. Composition only."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from flows.cli import config_option, config_paths, handle_errors, main, settings_from
from flows.cli_output import format_option, write_rows


def _display(value: Any) -> str:
    """A value as it would be written in TOML (true, 20.0, ["a"]); unset values say so."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@click.group("config")
def config_group() -> None:
    """Inspect the configuration newswatch loads.

    \b
    Example:
      newswatch config show
    """


@config_group.command("show")
@config_option
@format_option
@handle_errors
def config_show(config: tuple[str, ...], fmt: str) -> None:
    """Print every resolved setting with its value and where it came from: the default, a TOML file (an
    included file names itself), or a NEWSWATCH_* environment variable. Secrets show only that they are set;
    webhook and Apprise URLs only their scheme and host. Which files were read, and the directory relative
    paths (warehouse.path, digest.out_dir) resolve against, go to stderr.

    \b
    Example:
      newswatch config show
      NEWSWATCH_FETCH__TIMEOUT_SECONDS=5 newswatch config show --format json
    """
    from pipeline.config_sources import resolved_settings

    paths = config_paths(config)
    settings = settings_from(config)  # validates first: a bad file fails here, naming the key
    resolved = resolved_settings(settings, paths, os.environ)
    rows = [(s.key, s.value if fmt == "json" else _display(s.value), s.source) for s in resolved]
    files = ", ".join(str(p.resolve()) for p in paths) or "none (defaults only)"
    click.echo(f"config files: {files}\nrelative paths resolve against {Path.cwd()}", err=True)
    write_rows(["key", "value", "source"], rows, fmt)


main.add_command(config_group)

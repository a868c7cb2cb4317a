"""The `newswatch` command line: the click group, error handling, settings and logging shared by every command.
Composition only. Library errors (NewswatchError) and the environment's (OSError) become one clean `Error:` line
and a non-zero exit; programming errors keep their traceback. Quiet by default: alerts, failures and one summary;
`-v` adds per-stage progress and Prefect's own log lines. The commands live beside it, by audience:
cli_service (run, serve, deploy, deliver, digest), cli_analyst (sql, incidents, alerts, incident, mute),
cli_feeds, cli_export, cli_status, cli_config, cli_init, cli_eval (eval, cluster-file, eval-clusters), cli_topic,
cli_demo."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline.defaults import DEFAULT_CONFIG
from pipeline.errors import NewswatchError
from pipeline.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


_VERBOSITY = 0  # the global -v count, set by `main`


def verbosity() -> int:
    """How many -v the command line gave (0: quiet)."""
    return _VERBOSITY


def quiet_prefect() -> None:
    """Defaults for running flows locally with no Prefect server (set before prefect is imported). Prefect's
    console lines (a failed run's traceback, its warnings) stay out of the terminal unless -v (-vv: its INFO
    lines too); its API handler still sends the run logs to a Prefect server. Third-party progress bars (the
    model's "Loading weights") are off; an operator's own setting of any of these wins, except over -v."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # -v / -vv on the command line are more specific than the environment: they win over it
    (os.environ.__setitem__ if _VERBOSITY >= 2 else os.environ.setdefault)(
        "PREFECT_LOGGING_LEVEL", "INFO" if _VERBOSITY >= 2 else "WARNING")
    (os.environ.__setitem__ if _VERBOSITY else os.environ.setdefault)(
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", {0: "CRITICAL", 1: "WARNING"}.get(_VERBOSITY, "INFO"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")


class _Stderr(logging.Handler):
    """Log lines to the current stderr (click's: also under CliRunner), one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(" ".join(self.format(record).split("\n")), err=True)


class _NotPrinted(logging.Filter):
    """Drops the log lines the CLI prints itself (alerts, failed feeds): each is printed once."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flows.progress import PRINTED

        return not getattr(record, PRINTED, False)


_HANDLER = _Stderr()


def _setup_logging(verbosity: int) -> None:
    """newswatch's own lines (`newswatch.*`: the service's warnings; -v: per-stage progress) to stderr; library
    chatter (trafilatura's warnings about odd pages) kept out unless -vv."""
    own = logging.getLogger("newswatch")
    own.setLevel(logging.INFO if verbosity >= 1 else logging.WARNING)
    own.propagate = False
    if _HANDLER not in own.handlers:
        _HANDLER.setFormatter(logging.Formatter("%(name)s: %(message)s" if verbosity >= 2 else "%(message)s"))
        own.addHandler(_HANDLER)
    for name in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.WARNING if verbosity >= 2 else logging.CRITICAL)


def filter_printed_lines() -> None:
    """After prefect configured logging: its console handler skips what the CLI prints itself (below -vv, which
    shows every line Prefect logs, the log channel's "ALERT ..." lines among them)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NotPrinted) for f in handler.filters):
            handler.addFilter(_NotPrinted())


class CommandFailed(click.ClickException):
    """One `Error:` line and `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code


def handle_errors(fn: F | None = None, *, exit_code: int = 1) -> Any:
    """NewswatchError and OSError (a file that cannot be read or written) -> one `Error:` line, `exit_code`."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except CommandFailed:
                raise
            except NewswatchError as exc:
                raise CommandFailed(str(exc), exit_code) from exc
            except OSError as exc:
                where = f"{exc.filename}: " if exc.filename else ""
                raise CommandFailed(f"{where}{exc.strerror or exc}", exit_code) from exc

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def default_config_paths() -> list[Path]:
    """config/newswatch.toml in the working directory, else the shipped default config (which includes the
    shipped feeds.toml); then config/local.toml in the working directory when there is one."""
    here = Path.cwd() / "config"
    main, local = here / "newswatch.toml", here / "local.toml"
    return [main if main.exists() else DEFAULT_CONFIG, *([local] if local.exists() else [])]


def config_paths(config: Sequence[str]) -> list[Path]:
    """The TOML files a command reads: --config, else $NEWSWATCH_CONFIG, else default_config_paths()."""
    if config:
        return [Path(c) for c in config]
    if os.environ.get("NEWSWATCH_CONFIG"):
        return [Path(p) for p in os.environ["NEWSWATCH_CONFIG"].split(os.pathsep)]
    return default_config_paths()


def settings_from(config: Sequence[str], overrides: dict[str, Any] | None = None) -> Settings:
    return load_settings(config_paths(config), overrides=overrides)


config_option = click.option(
    "--config", "-c", "config", multiple=True, type=click.Path(dir_okay=False),
    help="TOML config file (repeatable; later files override earlier). Default: $NEWSWATCH_CONFIG, else "
         "config/newswatch.toml in the working directory or the shipped defaults, + config/local.toml if present.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="newswatch")
@click.option("--verbose", "-v", count=True,
              help="Show per-stage progress (counts, rate, ETA on a backlog) and Prefect's own log lines; -vv: "
                   "Prefect's INFO lines and library warnings too.")
def main(verbose: int) -> None:
    """newswatch: watch news feeds, alert once per NEW incident of the watch topic (airspace violations by
    default), write a daily digest, keep everything in a DuckDB warehouse you can query with SQL.

    \b
    Quick start:
      newswatch demo                     # bundled corpus, full pipeline, alerts, digest
      newswatch run --config config/newswatch.toml
      newswatch -v run                   # with per-stage progress
      newswatch sql "select * from v_incidents"
      newswatch status                   # last cycle, failing feeds, outbox; exit 0/1/2 = ok/degraded/down
    """
    global _VERBOSITY
    _VERBOSITY = verbose
    from flows.process import prepare_process

    prepare_process()  # before any command loads the model or starts threads
    _setup_logging(verbose)
    quiet_prefect()  # before any command imports prefect: it reads these once


def existing_warehouse(settings: Settings) -> None:
    """Commands that only work on what a cycle stored never create the warehouse (a mistyped path would leave
    an empty one behind)."""
    path = Path(settings.warehouse.path)
    if not path.is_file():
        raise CommandFailed(f"no warehouse at {path} (check warehouse.path; `newswatch run` or `newswatch demo` "
                            "creates it)")


def acting_as(by: str | None) -> str:
    """Who acts on the warehouse (kept in v_feedback): --by, else $NEWSWATCH_ANALYST, else the login name."""
    import getpass

    return by or os.environ.get("NEWSWATCH_ANALYST") or getpass.getuser()


by_option = click.option("--by", default=None, help="Who is acting (default: $NEWSWATCH_ANALYST or the login name).")


def writable(config: tuple[str, ...], create: bool = False):  # type: ignore[no-untyped-def]
    """The settings and the live warehouse for a CLI writer. Created only with `create` (adding feeds before the
    first cycle); otherwise a mistyped config or warehouse path must not leave an empty warehouse behind."""
    import warehouse.connection

    settings = settings_from(config)
    return settings, warehouse.connection.open_warehouse(settings.warehouse.path, create=create,
                                          busy_timeout_seconds=settings.warehouse.busy_timeout_seconds)


def republish(settings: Settings, con: Any) -> None:
    """After a CLI writer's change: the analysts' snapshot shows it."""
    import warehouse.queries

    warehouse.queries.publish_snapshot(con, settings.warehouse.path)


def analyst_warehouse(settings: Settings, live: bool = False) -> Any:
    """A sandboxed connection (read-only, no other file, configuration locked) to the read-only snapshot published
    after every cycle (never blocks the writer), or to the live file with `live` (waits while a cycle writes; an
    open reader makes the writer wait too)."""
    import warehouse.connection
    import warehouse.paths

    path = Path(settings.warehouse.path)
    snapshot = warehouse.paths.snapshot_path(path)
    source = path if live or not snapshot.exists() else snapshot
    return warehouse.connection.open_warehouse(source, sandboxed=True, busy_timeout_seconds=settings.warehouse.busy_timeout_seconds)


live_option = click.option("--live", is_flag=True,
                           help="Query the live warehouse file instead of the snapshot published after each cycle.")


# The commands, kept in modules by audience, register themselves on `main` when imported.
from flows import (
    cli_analyst,  # noqa: E402,F401
    cli_config,  # noqa: E402,F401
    cli_demo,  # noqa: E402,F401
    cli_eval,  # noqa: E402,F401
    cli_export,  # noqa: E402,F401
    cli_feeds,  # noqa: E402,F401
    cli_init,  # noqa: E402,F401
    cli_service,  # noqa: E402,F401
    cli_status,  # noqa: E402,F401
    cli_topic,  # noqa: E402,F401
)

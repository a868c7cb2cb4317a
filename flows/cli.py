"""The `newswatch` command line: composition only. Library errors (NewswatchError) and the environment's
(OSError) become one clean `Error:` line and a non-zero exit; programming errors keep their traceback.
Quiet by default: alerts, failures and one summary; `-v` adds per-stage progress and Prefect's own log lines."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from flows.cli_output import format_option, write_results, write_rows
from pipeline.errors import ConfigInvalid, NewswatchError
from pipeline.health import DOWN, EXIT_CODES, OK
from pipeline.settings import PROJECT_ROOT, Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])
DEMO_CORPUS = PROJECT_ROOT / "tests" / "data" / "corpus" / "dev"
INCIDENT_STATUSES = ("open", "known", "dismissed", "merged")  # incidents.status, see migration 0004


_VERBOSITY = 0  # the global -v count, set by `main`


def _quiet_prefect() -> None:
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


def _filter_printed_lines() -> None:
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
    """config/newswatch.toml (+ config/local.toml) in the working directory, else the shipped one."""
    for base in (Path.cwd() / "config", PROJECT_ROOT / "config"):
        main = base / "newswatch.toml"
        if main.exists():
            local = base / "local.toml"
            return [main, local] if local.exists() else [main]
    return []


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
    help="TOML config file (repeatable; later files override earlier). Default: config/newswatch.toml "
         "(+ config/local.toml), or $NEWSWATCH_CONFIG.",
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
    _setup_logging(verbose)
    _quiet_prefect()  # before any command imports prefect: it reads these once


def _print_alerts(alerts: Sequence[Any]) -> None:
    from pipeline.alerts import alert_text

    for a in alerts:
        click.secho("NEW INCIDENT ", fg="red", bold=True, nl=False)
        click.echo(alert_text(a))


def _print_report(report: Any) -> None:
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.articles.items())) or "none"
    click.echo(
        f"feeds: {report.feeds_ok} ok, {report.feeds_not_modified} unchanged, {len(report.feeds_failed)} failed, "
        f"{report.feeds_muted} muted, {report.feeds_backing_off} backing off; new entries {report.new_entries}; articles: {statuses}; relevant {report.relevant}/{report.judged}; "
        f"incidents opened {report.incidents_opened}; alerts {len(report.alerts)}",
        err=True,
    )
    for name, error in report.feeds_failed.items():
        click.echo(f"  feed {name} failed: {error}", err=True)


def run_cycle(settings: Settings) -> Any:
    """One monitor cycle through Prefect; its alerts and summary are printed, also when a stage failed (then
    CycleFailed is raised on)."""
    if not settings.feeds:  # then only feeds added with `newswatch feeds` can be polled
        _require_feeds(settings)
    _quiet_prefect()
    from flows.cycle import CycleFailed
    from flows.cycle import run_cycle as run_monitor_cycle

    if _VERBOSITY < 2:
        _filter_printed_lines()
    try:
        report = run_monitor_cycle(settings)
    except CycleFailed as exc:
        _print_alerts(exc.report.alerts)
        _print_report(exc.report)
        raise
    _print_alerts(report.alerts)
    _print_report(report)
    return report


def _require_feeds(settings: Settings) -> int:
    from flows.cli_feeds import polled_feed_count

    count = polled_feed_count(settings)
    if not count:
        raise ConfigInvalid("config", "feeds", "no feeds configured (add [[feeds]] tables, include feeds.toml, "
                                               "or `newswatch feeds add URL`)")
    return count


@main.command()
@config_option
@handle_errors(exit_code=EXIT_CODES[DOWN])
def run(config: tuple[str, ...]) -> None:
    """Run one monitor cycle (poll, fetch, extract, embed, judge, assign, alert) through Prefect and exit.

    \b
    Exit codes (as `newswatch status`; docs/operations.md):
      0  ok: feeds were polled and every stage ran (some feeds may have failed: see `newswatch status`)
      1  degraded: a stage failed after feeds were polled (warehouse busy, model missing, ...)
      2  down: no feed could be polled, or the cycle could not start (bad config, warehouse unusable)

    \b
    Example:
      newswatch run --config config/newswatch.toml && echo ok
    """
    from flows.cycle import CycleFailed

    try:
        report = run_cycle(settings_from(config))
    except CycleFailed as exc:
        raise CommandFailed(str(exc), EXIT_CODES[exc.report.outcome]) from exc
    if report.outcome != OK:
        raise CommandFailed(f"no feed could be polled ({len(report.feeds_failed)} failed, {report.feeds_muted} muted, "
                            f"{report.feeds_backing_off} backing off): see `newswatch status`",
                            EXIT_CODES[report.outcome])


def _existing_warehouse(settings: Settings) -> None:
    """Commands that only work on what a cycle stored never create the warehouse (a mistyped path would leave
    an empty one behind)."""
    path = Path(settings.warehouse.path)
    if not path.is_file():
        raise CommandFailed(f"no warehouse at {path} (check warehouse.path; `newswatch run` or `newswatch demo` "
                            "creates it)")


def write_digest(settings: Settings, day: date, out: Path) -> tuple[Path, Path, Any]:
    """Render the digest of `day` from the warehouse to OUT (.html) and the same name with .txt."""
    from flows.deliver import read_day_digest
    from flows.outfiles import save_file
    from pipeline.digest import render_html, render_text
    from warehouse import store

    with store.open_warehouse(settings.warehouse.path, read_only=True,
                              busy_timeout_seconds=settings.warehouse.busy_timeout_seconds) as con:
        data = read_day_digest(con, settings, day)
    out.parent.mkdir(parents=True, exist_ok=True)
    html_path = out.with_suffix(".html")
    text_path = out.with_suffix(".txt")
    for path, text in ((html_path, render_html(data)), (text_path, render_text(data))):
        save_file(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"), "the digest")  # type: ignore[misc]
    return html_path, text_path, data


@main.command()
@config_option
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Digest day (YYYY-MM-DD) in digest.timezone. Default: today (with --send: the day now due).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write HTML here and plain text beside it (.txt). Default: <digest.out_dir>/digest-DATE.html")
@click.option("--send", is_flag=True,
              help="Also send it on every channel with `digest = true`: once per day and channel (a sent digest "
                   "is never sent again; a failed one is retried).")
@handle_errors
def digest(config: tuple[str, ...], day: datetime | None, out: Path | None, send: bool) -> None:
    """Write the daily digest: new incidents and incidents that grew (each with its articles of the day),
    other articles about the topic, a 14-day activity strip by country, feed health.

    Days are publication days in digest.timezone, and times are shown in it. With --send the digest also goes
    out through the outbox (v_digests shows its status); `newswatch run` sends the due one on its own at
    digest.send_time. A day before the first cycle is written on request but never sent.

    \b
    Example:
      newswatch digest --date 2025-09-10 --out out/digest.html
      newswatch digest --date 2025-09-10 --send
    """
    settings = settings_from(config)
    now = datetime.now(UTC)
    if day:
        the_day = day.date()
    elif send:
        from pipeline.outbox import digest_day_due

        the_day = digest_day_due(now, settings.digest.send_time, settings.digest.timezone)
    else:
        the_day = datetime.now(ZoneInfo(settings.digest.timezone)).date()
    out = out or Path(settings.digest.out_dir) / f"digest-{the_day:%Y-%m-%d}.html"
    html_path, text_path, data = write_digest(settings, the_day, out)
    click.echo(f"digest {the_day}: {len(data.new_incidents)} new, {len(data.grown_incidents)} grown -> "
               f"{html_path} and {text_path}")
    if data.before_first_cycle:
        began = f"the first cycle ran on {data.first_cycle_day}" if data.first_cycle_day else "no cycle ran yet"
        if send:
            raise click.BadParameter(f"{the_day} is before monitoring began ({began}): not sent", param_hint="--date")
        click.echo(f"note: {the_day} is before monitoring began ({began}): the digest shows what the feeds "
                   "still carried then", err=True)
    if send:
        from flows.deliver import deliver_outbox, queue_digest

        if not any(c.digest for c in settings.alerts.channels):
            raise ConfigInvalid("config", "alerts.channels", "no channel has `digest = true`: nowhere to send it")
        queued = queue_digest(settings, the_day, now, requeue_failed=True)
        report = deliver_outbox(settings, now=now, schedule_digest=False, digest_day=the_day)
        digests_sent = [s for s in report.sent if " digest " in s]
        click.echo(f"queued on {', '.join(queued) or 'no channel (already queued or sent)'}; sent "
                   f"{len(digests_sent)}; {report.summary()}")
        if report.failed or report.channel_errors:
            raise click.ClickException("some deliveries failed: see `newswatch sql \"select * from v_digests\"`")


@main.command()
@config_option
@click.option("--retry-now", is_flag=True, help="Also send rows whose next retry is not due yet.")
@handle_errors
def deliver(config: tuple[str, ...], retry_now: bool) -> None:
    """Send what the outbox holds (alerts and digests on email, webhook and apprise channels) and exit.

    `newswatch run` does this at the end of every cycle; use this to flush the outbox after fixing a mail
    server or webhook, without polling feeds. Failed rows stay failed (see `newswatch alerts`).

    \b
    Example:
      newswatch deliver --retry-now
    """
    from flows.deliver import deliver_outbox

    settings = settings_from(config)
    _existing_warehouse(settings)
    report = deliver_outbox(settings, retry_now=retry_now)
    click.echo(report.summary())
    for line in report.failed:
        click.echo(f"  failed {line}", err=True)


def analyst_warehouse(settings: Settings, live: bool = False) -> Any:
    """A sandboxed connection (read-only, no other file, configuration locked) to the read-only snapshot published
    after every cycle (never blocks the writer), or to the live file with `live` (waits while a cycle writes; an
    open reader makes the writer wait too)."""
    from warehouse import store

    path = Path(settings.warehouse.path)
    snapshot = store.snapshot_path(path)
    source = path if live or not snapshot.exists() else snapshot
    return store.open_warehouse(source, sandboxed=True, busy_timeout_seconds=settings.warehouse.busy_timeout_seconds)


live_option = click.option("--live", is_flag=True,
                           help="Query the live warehouse file instead of the snapshot published after each cycle.")


def _sql_text(query: str | None, file: str | None) -> str:
    if (query is None) == (file is None):
        raise click.ClickException("give the SQL as QUERY or with -f FILE (one of them; '-' reads standard input)")
    source = file if file is not None else query
    if source == "-":
        return sys.stdin.read()
    if file is not None:
        try:
            return Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{file}: cannot read SQL: {exc}") from exc
    return str(query)


@main.command()
@config_option
@click.argument("query", required=False)
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Read the SQL from FILE ('-': standard input).")
@format_option
@click.option("--csv", "as_csv", is_flag=True, help="Same as --format csv.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@live_option
@handle_errors
def sql(config: tuple[str, ...], query: str | None, file: str | None, fmt: str, as_csv: bool, as_json: bool,
        live: bool) -> None:
    """Run read-only SQL against the warehouse (views: v_articles, v_incidents, v_alerts, v_feed_health; see
    docs/warehouse.md and docs/queries.md). Several statements separated by `;` each print their result, in
    order; a failing one is named and stops the rest. Answers come from the read-only snapshot that every
    cycle publishes beside the warehouse (<name>.read.duckdb), so a query never blocks a running service;
    --live reads the live file instead. Either way the file is opened read-only with DuckDB's external access
    disabled and its configuration locked: writes, ATTACH, COPY ... TO, INSTALL/LOAD and reads of other files
    are refused with one error line (`newswatch export` writes a view to a file).

    \b
    Example:
      newswatch sql "select title, country, source_count from v_incidents order by first_seen_at"
      newswatch sql --format csv -f report.sql > report.csv
      echo "select 1; select 2" | newswatch sql -
    """
    from warehouse import store

    chosen = [f for f, on in (("csv", as_csv), ("json", as_json)) if on]
    if fmt != "table":
        chosen.append(fmt)
    if len(set(chosen)) > 1:
        raise click.ClickException(f"conflicting output formats: {' and '.join(sorted(set(chosen)))} (choose one)")
    fmt = chosen[0] if chosen else "table"
    script = _sql_text(query, file)
    results: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
    failed = True
    with analyst_warehouse(settings_from(config), live) as con:
        try:
            for result in store.query_script(con, script):
                results.append(result)
            failed = False
        finally:
            if results:  # a failing statement: what ran before it, then the error
                write_results(results, fmt, several=failed or len(results) > 1)


@main.command()
@config_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([*INCIDENT_STATUSES, "all"]),
              help="Only incidents with this status (repeatable). Default: all but merged (a merged incident's "
                   "articles are listed under the one it was merged into).")
@format_option
@live_option
@handle_errors
def incidents(config: tuple[str, ...], statuses: tuple[str, ...], fmt: str, live: bool) -> None:
    """List known incidents, newest first, with their status: open (alerts as usual), known (registered or
    split off by an analyst: never alerts), dismissed (`newswatch incident dismiss`), merged (into
    merged_into).

    \b
    Example:
      newswatch incidents --status open --format csv
    """
    from warehouse import store

    wanted = list(INCIDENT_STATUSES) if "all" in statuses else list(statuses) or ["open", "known", "dismissed"]
    with analyst_warehouse(settings_from(config), live) as con:
        columns, rows = store.list_incidents(con, wanted)
    write_rows(columns, rows, fmt)


@main.command()
@config_option
@format_option
@live_option
@handle_errors
def alerts(config: tuple[str, ...], fmt: str, live: bool) -> None:
    """List alerts (outbox rows), newest first: channel, delivery status and attempts, the incident's id and
    title, when it was sent or is tried next, and the last delivery error.

    \b
    Example:
      newswatch alerts --format json
    """
    from warehouse import store

    with analyst_warehouse(settings_from(config), live) as con:
        columns, rows = store.list_alerts(con)
    write_rows(columns, rows, fmt)


@main.command()
@click.option("--config", "-c", "config", multiple=True, type=click.Path(dir_okay=False),
              help="Config for the demo (default: config/demo.toml).")
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
    from flows.corpus_server import CorpusServer

    if not (corpus / "site").is_dir():
        raise CommandFailed(f"{corpus}: not a corpus directory (no site/<outlet>/feed.xml under it)")
    paths = list(config) or [str(PROJECT_ROOT / "config" / "demo.toml")]
    base = settings_from(paths)
    if fresh:
        for suffix in ("", ".wal"):
            Path(base.warehouse.path + suffix).unlink(missing_ok=True)
    with CorpusServer(corpus / "site") as server:
        feeds = [{"name": n, "url": u} for n, u in server.feed_urls().items()]
        settings = settings_from(paths, overrides={"feeds": feeds})
        click.echo(f"serving {len(feeds)} demo feeds from {server.base_url}; running the pipeline "
                   f"(first run loads the model and starts Prefect: about a minute)...", err=True)
        run_cycle(settings)
    from warehouse import store

    with store.open_warehouse(settings.warehouse.path, read_only=True) as con:
        _, rows = store.query(con, "SELECT CAST(published_at AS DATE) AS d, count(*) FROM v_articles "
                                   "WHERE relevant GROUP BY d ORDER BY count(*) DESC, d LIMIT 1")
    day = rows[0][0] if rows else datetime.now(UTC).date()
    html_path, text_path, data = write_digest(settings, day, Path(settings.digest.out_dir) / f"digest-{day}.html")
    cfg = " ".join(f"-c {p}" for p in paths)
    click.echo(f"\nDigest for {day} (the busiest day): {html_path.resolve()}\n  and as text: {text_path.resolve()}")
    click.echo(f"Warehouse: {Path(settings.warehouse.path).resolve()}\n  query it: newswatch sql {cfg} "
               f"\"select title, country, intruder, source_count from v_incidents\"\n"
               f"  or: duckdb -readonly {store.snapshot_path(settings.warehouse.path)} \"select * from v_alerts\"")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read JSON lines: {exc}") from exc


@main.command("cluster-file")
@config_option
@click.argument("input_path", metavar="INPUT.jsonl[.gz]", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write {id, incident, new} per record.")
@handle_errors
def cluster_file(config: tuple[str, ...], input_path: Path, output: Path) -> None:
    """Run the live incident engine (same model and [cluster] settings, topic relevance off: every record
    counts) over records {id, date, title, text} in stream order; label fields are never read. Writes one
    {id, incident, new} line per record; `new` means the record opened an incident. With no --config the
    shipped defaults are used.

    \b
    Example:
      newswatch cluster-file ../shared/bench/gva-dev.jsonl.gz --output /tmp/clusters.jsonl
    """
    from flows import resources
    from flows.cycle import cluster_model, cluster_settings
    from pipeline.assign import StreamItem, assign_stream, build_index
    from pipeline.embed import embedding_text
    from pipeline.lexical import DocFreq

    settings = load_settings([Path(c) for c in config]) if config else load_settings([])
    engine = cluster_settings(settings)
    records = _read_jsonl(input_path)
    for n, r in enumerate(records, 1):
        missing = [k for k in ("id", "date", "title", "text") if k not in r]
        if missing:
            raise click.ClickException(f"{input_path}: record {n} lacks {', '.join(missing)}")
    emb = resources.embedder(cluster_model(engine), settings.embed.batch_size)
    texts = [embedding_text(str(r["title"]), str(r["text"]), engine.lede_words) for r in records]
    vectors = []
    with click.progressbar(length=len(texts), label=f"embedding with {emb.name}", file=sys.stderr) as bar:
        for start in range(0, len(texts), 256):
            vectors.append(emb.encode(texts[start:start + 256]))
            bar.update(len(texts[start:start + 256]))
    import numpy as np

    matrix = np.vstack(vectors) if vectors else np.zeros((0, emb.dim), dtype=np.float32)

    def when(value: str) -> datetime:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    items = [StreamItem(str(r["id"]), when(r["date"]), str(r["title"]), str(r["text"]), matrix[i])
             for i, r in enumerate(records)]
    later_stage = resources.topic(settings.topic.path).later_stage
    assigned = {a.article_id: a for a in assign_stream(build_index(engine, DocFreq(), []), items, later_stage)}
    output.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for r in records:
                a = assigned[str(r["id"])]
                fh.write(json.dumps({"id": r["id"], "incident": a.incident_id, "new": a.opened}) + "\n")

    from flows.outfiles import save_file

    save_file(output, write, "the clustering")
    click.echo(f"{len(records)} records -> {len({a.incident_id for a in assigned.values()})} incidents: {output}",
               err=True)


@main.command("eval-clusters")
@click.argument("predicted", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--gold", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Labeled records with `id` and `cluster` (and optionally `is_first`), .jsonl or .jsonl.gz.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_clusters(predicted: Path, gold: Path, as_json: bool) -> None:
    """Score a clustering ({id, incident, new} lines from cluster-file) against gold `cluster` labels:
    pairwise P/R/F1, B-cubed P/R/F1 and first-story P/R/F1 (gold first story: `is_first`, else the earliest
    record of each cluster in file order).

    \b
    Example:
      newswatch eval-clusters /tmp/clusters.jsonl --gold ../shared/bench/gva-dev.jsonl.gz
    """
    from pipeline.scoring import score_clusters, score_first_story

    gold_rows = _read_jsonl(gold)
    pred_rows = {str(r["id"]): r for r in _read_jsonl(predicted)}
    missing = [str(r["id"]) for r in gold_rows if str(r["id"]) not in pred_rows]
    if missing:
        raise click.ClickException(f"{predicted}: {len(missing)} gold ids have no prediction (first: {missing[0]})")
    seen: set[str] = set()
    gold_first: set[str] = set()
    for r in gold_rows:
        first = r.get("is_first")
        if first is None:
            first = r["cluster"] not in seen
        seen.add(r["cluster"])
        if first:
            gold_first.add(str(r["id"]))
    ids = [str(r["id"]) for r in gold_rows]
    clusters = score_clusters({str(r["id"]): str(r["cluster"]) for r in gold_rows},
                              {i: str(pred_rows[i]["incident"]) for i in ids})
    first_story = score_first_story(gold_first, {i for i in ids if pred_rows[i].get("new")}, ids)
    scores = {"pairwise": clusters.pairwise, "bcubed": clusters.bcubed, "first_story": first_story}
    if as_json:
        click.echo(json.dumps({k: vars(v) for k, v in scores.items()}, indent=1))
        return
    for name, prf in scores.items():
        click.echo(f"{name:12s} {_fmt_prf(prf)}")


@main.command("serve")
@config_option
@click.option("--interval-minutes", type=click.FloatRange(min=0.05), default=15.0, show_default=True,
              help="Minutes between the starts of two monitor cycles.")
@click.option("--max-cycles", type=click.IntRange(min=1), default=None, help="Stop after this many cycles.")
@handle_errors
def serve_command(config: tuple[str, ...], interval_minutes: float, max_cycles: int | None) -> None:
    """Run as a service: a monitor cycle every --interval-minutes and the daily digest at digest.send_time
    (digest.timezone), as Prefect flow runs in this process (the model stays loaded). Runs never overlap; a
    busy warehouse is retried; Ctrl-C stops cleanly at the next stage boundary. With PREFECT_API_URL set the
    runs appear in the Prefect UI. Analysts query the snapshot published after each cycle
    (`newswatch sql`, or `duckdb -readonly <warehouse>.read.duckdb`), which never blocks the service.

    \b
    Example:
      newswatch serve --config config/newswatch.toml --interval-minutes 10
    """
    settings = settings_from(config)
    _quiet_prefect()
    from flows.serve import serve

    if _VERBOSITY < 2:
        _filter_printed_lines()
    feed_count = _require_feeds(settings)

    def on_cycle(n: int, report: Any) -> None:
        click.echo(f"[{datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z] cycle {n}", err=True)
        _print_alerts(report.alerts)
        _print_report(report)

    click.echo(f"newswatch serving {feed_count} feeds every {interval_minutes:g} min; digest daily at "
               f"{settings.digest.send_time} {settings.digest.timezone}. Ctrl-C to stop.", err=True)
    stats = serve(settings, interval_minutes=interval_minutes, max_cycles=max_cycles, on_cycle=on_cycle)
    click.echo(f"stopped after {stats.cycles} cycles, {stats.digests} digests, {stats.busy_retries} busy retries.",
               err=True)


@main.command("deploy")
@config_option
@click.option("--pool", required=True, help="Prefect work pool the deployments run on.")
@click.option("--interval-minutes", type=click.FloatRange(min=1), default=15.0, show_default=True,
              help="Schedule of the monitor cycle deployment.")
@click.option("--image", default=None, help="Container image for docker/kubernetes pools (default: none, process pool).")
@handle_errors
def deploy_command(config: tuple[str, ...], pool: str, interval_minutes: float, image: str | None) -> None:
    """Register the monitor-cycle and daily-digest deployments on a Prefect work pool, for teams that run
    Prefect workers (`prefect worker start --pool NAME`). Needs PREFECT_API_URL pointing at a Prefect server.
    The cycle deployment runs one at a time (concurrency limit 1: a late run waits, it never overlaps the one
    before). Workers start a process per run (the model is loaded each time, ~5 s); `newswatch serve` avoids
    that.

    \b
    Example:
      PREFECT_API_URL=http://127.0.0.1:4200/api newswatch deploy --pool newswatch --config /app/config/newswatch.toml
    """
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise CommandFailed("PREFECT_API_URL is not set: deployments need a Prefect server "
                            "(`prefect server start`, or the docker-compose stack)")
    settings = settings_from(config)  # a bad config fails before Prefect is asked anything
    _quiet_prefect()
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectException
    from prefect.schedules import Cron, Interval

    from flows.deploy_entry import cycle_entry, digest_entry

    with get_client(sync_client=True) as client:
        unreachable = client.api_healthcheck()
    if unreachable is not None:
        raise CommandFailed(f"the Prefect API at {api_url} does not answer ({type(unreachable).__name__}: "
                            f"{unreachable}); start it (`prefect server start`) or fix PREFECT_API_URL")
    paths = [str(Path(p).resolve()) for p in (config or [str(p) for p in default_config_paths()])]
    common: dict[str, Any] = {"work_pool_name": pool, "parameters": {"config": paths}, "print_next_steps": False}
    if image:
        common.update(image=image, build=False, push=False)
    for entry, name, schedule, limit in (
        (cycle_entry, "newswatch-cycle", Interval(timedelta(minutes=interval_minutes)), 1),
        (digest_entry, "newswatch-digest", Cron(_cron(settings.digest.send_time), timezone=settings.digest.timezone),
         None),
    ):
        try:
            source = entry.from_source(source=str(PROJECT_ROOT),
                                       entrypoint=f"flows/deploy_entry.py:{entry.fn.__name__}")
            dep_id = source.deploy(name=name, schedules=[schedule], concurrency_limit=limit, **common)
        except (PrefectException, ValueError) as exc:  # ValueError: Prefect's "Could not find work pool ..."
            raise CommandFailed(f"deployment {name}: {exc}") from exc
        click.echo(f"deployment {name} registered on pool {pool}: {dep_id}"
                   + (f" (concurrency limit {limit})" if limit else ""))


def _cron(send_time: str) -> str:
    hour, minute = send_time.split(":")
    return f"{int(minute)} {int(hour)} * * *"



def _actor(by: str | None) -> str:
    import getpass

    return by or os.environ.get("NEWSWATCH_ANALYST") or getpass.getuser()


by_option = click.option("--by", default=None, help="Who is acting (default: $NEWSWATCH_ANALYST or the login name).")


@main.group("incident")
def incident_group() -> None:
    """Analyst feedback on incidents: dismiss, merge, split, add. Every action is recorded in the warehouse
    (v_feedback: who, when, why) and respected by later cycles and digests.

    \b
    Example:
      newswatch incident dismiss inc-3f2a9c1b7d4e --reason "air show, not a violation"
    """


def _writable(config: tuple[str, ...], create: bool = False):  # type: ignore[no-untyped-def]
    """The settings and the live warehouse for a CLI writer. Created only with `create` (adding feeds before the
    first cycle); otherwise a mistyped config or warehouse path must not leave an empty warehouse behind."""
    from warehouse import store

    settings = settings_from(config)
    return settings, store.open_warehouse(settings.warehouse.path, create=create,
                                          busy_timeout_seconds=settings.warehouse.busy_timeout_seconds)


def _republish(settings: Settings, con: Any) -> None:
    from warehouse import store

    store.publish_snapshot(con, settings.warehouse.path)


@incident_group.command("dismiss")
@config_option
@click.argument("incident_id")
@click.option("--reason", required=True, help="Why (kept in v_feedback).")
@by_option
@handle_errors
def incident_dismiss(config: tuple[str, ...], incident_id: str, reason: str, by: str | None) -> None:
    """Dismiss an incident: it never alerts (pending alerts are cancelled) and leaves digests; its later
    articles still join it, so they do not open a new incident.

    \b
    Example:
      newswatch incident dismiss inc-3f2a9c1b7d4e --reason "air show, not a violation"
    """
    from warehouse import store

    settings, wh = _writable(config)
    with wh as con:
        cancelled = store.dismiss_incident(con, incident_id, reason=reason, actor=_actor(by), at=datetime.now(UTC))
        _republish(settings, con)
    click.echo(f"dismissed {incident_id}; {cancelled} pending alert(s) cancelled")


@incident_group.command("merge")
@config_option
@click.argument("keep")
@click.argument("fold")
@click.option("--reason", default=None, help="Why (kept in v_feedback).")
@by_option
@handle_errors
def incident_merge(config: tuple[str, ...], keep: str, fold: str, reason: str | None, by: str | None) -> None:
    """Merge incident FOLD into KEEP (the same episode reported twice): FOLD's articles move to KEEP and later
    articles join KEEP.

    \b
    Example:
      newswatch incident merge inc-aaaa inc-bbbb --reason "same night, second airport"
    """
    from warehouse import store

    settings, wh = _writable(config)
    with wh as con:
        moved = store.merge_incidents(con, keep, fold, reason=reason, actor=_actor(by), at=datetime.now(UTC))
        _republish(settings, con)
    click.echo(f"merged {fold} into {keep}: {moved} article(s) moved")


@incident_group.command("split")
@config_option
@click.argument("incident_id")
@click.option("--articles", "urls", required=True, multiple=True, help="URL of an article to move (repeatable).")
@click.option("--reason", default=None, help="Why (kept in v_feedback).")
@by_option
@handle_errors
def incident_split(config: tuple[str, ...], incident_id: str, urls: tuple[str, ...], reason: str | None,
                   by: str | None) -> None:
    """Move some articles of an incident into a new incident of their own (status 'known': it does not alert,
    since the analyst already knows it). Later articles join whichever of the two they match.

    \b
    Example:
      newswatch incident split inc-3f2a9c1b7d4e --articles https://example.org/a.html --articles https://example.org/b.html
    """
    from warehouse import store

    settings, wh = _writable(config)
    with wh as con:
        new_id = store.split_incident(con, incident_id, list(urls), reason=reason, actor=_actor(by),
                                      at=datetime.now(UTC))
        _republish(settings, con)
    click.echo(f"split {len(urls)} article(s) of {incident_id} into {new_id}")


@incident_group.command("add")
@config_option
@click.option("--title", required=True, help="What happened, as a headline.")
@click.option("--date", "when", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="When it happened (UTC).")
@click.option("--description", default="", help="A few sentences: place, intruders, what was done.")
@click.option("--country", default=None, help="Violated state, e.g. Poland.")
@click.option("--intruder", default=None, help="e.g. drones, fighter jets.")
@click.option("--reason", default=None, help="Why (kept in v_feedback).")
@by_option
@handle_errors
def incident_add(config: tuple[str, ...], title: str, when: datetime, description: str, country: str | None,
                 intruder: str | None, reason: str | None, by: str | None) -> None:
    """Register an incident the desk already knows (from a briefing, not the news): reports of it will join it
    and never alert.

    \b
    Example:
      newswatch incident add --title "Drones over Rzeszow airport" --date 2025-11-02 --country Poland --intruder drones --description "Several drones seen over the airport perimeter at night; flights halted."
    """
    from flows import resources
    from flows.cycle import cluster_model, cluster_settings
    from pipeline.embed import embedding_text
    from pipeline.lexical import extract_terms
    from warehouse import store

    settings, wh = _writable(config)
    engine = cluster_settings(settings)
    emb = resources.embedder(cluster_model(engine), settings.embed.batch_size)
    vector = emb.encode([embedding_text(title, description, engine.lede_words)])[0]
    terms = extract_terms(title, description, lead_words=engine.term_lead_words)
    at = when.replace(tzinfo=UTC)
    with wh as con:
        incident_id = store.add_known_incident(
            con, title=title, description=description, when=at, country=country, intruder=intruder, model=emb.name,
            vector=vector, terms=terms, reason=reason, actor=_actor(by), at=datetime.now(UTC))
        _republish(settings, con)
    click.echo(f"registered {incident_id}: reports of it will join it without alerting")


@main.command("mute")
@config_option
@click.argument("feed")
@click.option("--unmute", is_flag=True, help="Resume polling the feed.")
@click.option("--reason", default=None, help="Why (kept in v_feedback).")
@by_option
@handle_errors
def mute_command(config: tuple[str, ...], feed: str, unmute: bool, reason: str | None, by: str | None) -> None:
    """Stop polling a feed (spam, a broken outlet) without editing the config; its stored articles stay.

    \b
    Example:
      newswatch mute world-brief --reason "general news, too noisy"
    """
    from warehouse import store

    settings, wh = _writable(config)
    with wh as con:
        store.set_feed_muted(con, feed, not unmute, reason=reason, actor=_actor(by), at=datetime.now(UTC))
        _republish(settings, con)
    click.echo(f"{'unmuted' if unmute else 'muted'} {feed}")


# Command groups kept in their own modules register themselves on `main` when imported.
from flows import cli_config  # noqa: E402,F401
from flows import cli_eval  # noqa: E402,F401
from flows import cli_export  # noqa: E402,F401
from flows import cli_feeds  # noqa: E402,F401
from flows import cli_topic  # noqa: E402,F401
from flows import cli_status  # noqa: E402,F401

"""Service commands of the CLI: `newswatch run` (one cycle), `serve` (cycles on a schedule and the daily digest),
`deploy` (Prefect work-pool deployments), `deliver` (flush the outbox) and `digest`. Composition only: the cycle
is flows/cycle.py, the outbox flows/deliver.py, the schedule flows/serve.py."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from flows.cli import (
    CommandFailed,
    config_option,
    default_config_paths,
    existing_warehouse,
    filter_printed_lines,
    handle_errors,
    main,
    quiet_prefect,
    settings_from,
    verbosity,
)
from pipeline.errors import ConfigInvalid
from pipeline.health import DOWN, EXIT_CODES, OK
from pipeline.settings import PROJECT_ROOT, Settings


def print_alerts(alerts: Sequence[Any]) -> None:
    """Each new-incident alert of a cycle, once, on stdout."""
    from pipeline.alerts import alert_text

    for a in alerts:
        click.secho("NEW INCIDENT ", fg="red", bold=True, nl=False)
        click.echo(alert_text(a))


def print_report(report: Any) -> None:
    """A cycle's one-line summary and its failed feeds, on stderr."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.articles.items())) or "none"
    click.echo(
        f"feeds: {report.feeds_ok} ok, {report.feeds_not_modified} unchanged, {len(report.feeds_failed)} failed, "
        f"{report.feeds_muted} muted, {report.feeds_backing_off} backing off; new entries {report.new_entries}; articles: {statuses}; relevant {report.relevant}/{report.judged}; "
        f"incidents opened {report.incidents_opened}; alerts {len(report.alerts)}",
        err=True,
    )
    for name, error in report.feeds_failed.items():
        click.echo(f"  feed {name} failed: {error}", err=True)


def run_and_report(settings: Settings) -> Any:
    """One monitor cycle through Prefect; its alerts and summary are printed, also when a stage failed (then
    CycleFailed is raised on)."""
    if not settings.feeds:  # then only feeds added with `newswatch feeds` can be polled
        _require_feeds(settings)
    quiet_prefect()
    from flows.cycle import CycleFailed, run_cycle

    if verbosity() < 2:
        filter_printed_lines()
    try:
        report = run_cycle(settings)
    except CycleFailed as exc:
        print_alerts(exc.report.alerts)
        print_report(exc.report)
        raise
    print_alerts(report.alerts)
    print_report(report)
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
        report = run_and_report(settings_from(config))
    except CycleFailed as exc:
        raise CommandFailed(str(exc), EXIT_CODES[exc.report.outcome]) from exc
    if report.outcome != OK:
        raise CommandFailed(f"no feed could be polled ({len(report.feeds_failed)} failed, {report.feeds_muted} muted, "
                            f"{report.feeds_backing_off} backing off): see `newswatch status`",
                            EXIT_CODES[report.outcome])



def write_digest(settings: Settings, day: date, out: Path) -> tuple[Path, Path, Any]:
    """Render the digest of `day` from the warehouse to OUT (.html) and the same name with .txt."""
    import warehouse.connection
    from flows.deliver import read_day_digest
    from flows.outfiles import save_file
    from pipeline.digest import render_html, render_text

    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True,
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
    existing_warehouse(settings)
    report = deliver_outbox(settings, retry_now=retry_now)
    click.echo(report.summary())
    for line in report.failed:
        click.echo(f"  failed {line}", err=True)



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
    quiet_prefect()
    from flows.serve import serve

    if verbosity() < 2:
        filter_printed_lines()
    feed_count = _require_feeds(settings)

    def on_cycle(n: int, report: Any) -> None:
        click.echo(f"[{datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z] cycle {n}", err=True)
        print_alerts(report.alerts)
        print_report(report)

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
    quiet_prefect()
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

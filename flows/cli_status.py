"""`newswatch status`: the service's health for people, cron and systemd. Composition only: the facts come from
the warehouse (warehouse/cycles.py), the verdict from pipeline/health.py."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from flows.cli import CommandFailed, config_option, handle_errors, main, settings_from
from pipeline.errors import WarehouseBusy
from pipeline.health import DOWN, EXIT_CODES, age_text, service_status

# How long status waits for the live warehouse before answering from the snapshot (a cycle holds the file).
LIVE_WAIT_SECONDS = 2.0


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def read_status(config: tuple[str, ...], max_age_minutes: float | None) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the JSON output)."""
    import warehouse.connection
    import warehouse.cycles
    import warehouse.paths

    settings = settings_from(config)
    path = Path(settings.warehouse.path)
    snapshot = warehouse.paths.snapshot_path(path)
    if not path.is_file():
        raise CommandFailed(f"no warehouse at {path} (check warehouse.path; `newswatch run` or `newswatch demo` "
                            "creates it)", EXIT_CODES[DOWN])
    source, note = path, None
    with ExitStack() as stack:
        try:
            con = stack.enter_context(warehouse.connection.open_warehouse(path, read_only=True,
                                                           busy_timeout_seconds=LIVE_WAIT_SECONDS))
        except WarehouseBusy:
            if not snapshot.is_file():
                raise
            source, note = snapshot, "the live warehouse is held by a running cycle: figures from the snapshot"
            con = stack.enter_context(warehouse.connection.open_warehouse(snapshot, read_only=True,
                                                           busy_timeout_seconds=LIVE_WAIT_SECONDS))
        last = warehouse.cycles.read_last_cycle(con)
        feeds = warehouse.cycles.read_health_of_feeds(con)
        backlog = warehouse.cycles.read_outbox_backlog(con)
    now = datetime.now(UTC)
    verdict = service_status(
        now=now, last_cycle=last, feeds=feeds, oldest_pending_alert_at=backlog.oldest_pending_alert_at,
        failing_alert_hours=settings.fetch.failing_alert_hours,
        pending_alert_max_seconds=settings.alerts.retry_max_seconds, max_cycle_age_minutes=max_age_minutes)
    size = sum(p.stat().st_size for p in warehouse.paths.database_files(path) if p.exists())
    return {
        "status": verdict.outcome,
        "exit_code": verdict.exit_code,
        "reasons": verdict.reasons,
        "checked_at": now.isoformat(),
        "source": str(source),
        "note": note,
        "last_cycle": None if last is None else {
            **{k: _iso(v) for k, v in asdict(last).items()},
            "duration_seconds": round((last.finished_at - last.started_at).total_seconds(), 3),
            "age_seconds": round((now - last.started_at).total_seconds(), 1)},
        "feeds": {
            "total": len(feeds),
            "failing": [{"feed": f.name, "consecutive_failures": f.consecutive_failures, "last_status": f.last_status,
                         "last_error": f.last_error, "last_success_at": _iso(f.last_success_at),
                         "next_poll_at": _iso(f.next_poll_at)}
                        for f in feeds if f.consecutive_failures and not f.muted],
            "muted": [f.name for f in feeds if f.muted],
            "backing_off": [{"feed": f.name, "until": _iso(f.next_poll_at)} for f in feeds
                            if not f.muted and f.next_poll_at is not None and f.next_poll_at > now],
        },
        "outbox": {"pending_alerts": backlog.pending_alerts,
                   "oldest_pending_alert_at": _iso(backlog.oldest_pending_alert_at),
                   "failed_alerts": backlog.failed_alerts, "pending_digests": backlog.pending_digests},
        "snapshot": {"path": str(snapshot),
                     "age_seconds": round(now.timestamp() - snapshot.stat().st_mtime, 1) if snapshot.exists()
                     else None},
        "warehouse": {"path": str(path), "size_bytes": size},
    }


def _ago(seconds: float | None) -> str:
    return "never" if seconds is None else f"{age_text(seconds)} ago"


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def print_table(s: dict[str, Any]) -> None:
    click.echo(f"status: {s['status'].upper()} (exit {s['exit_code']})")
    for reason in s["reasons"]:
        click.echo(f"  - {reason}")
    if s["note"]:
        click.echo(f"  ({s['note']})")
    c = s["last_cycle"]
    if c is None:
        click.echo("last cycle: none recorded")
    else:
        click.echo(f"last cycle: {c['started_at'][:19].replace('T', ' ')} UTC ({_ago(c['age_seconds'])}), took "
                   f"{c['duration_seconds']:.1f} s, {c['outcome']}"
                   + (f" ({c['failed_stage']} stage failed: {c['error']})" if c["failed_stage"] else ""))
        click.echo(f"  feeds {c['feeds_ok']} ok, {c['feeds_not_modified']} unchanged, {c['feeds_failed']} failed, "
                   f"{c['feeds_muted']} muted, {c['feeds_backing_off']} backing off; {c['new_entries']} new entries, "
                   f"{c['articles']} articles, {c['relevant']} relevant, {c['incidents_opened']} incidents opened, "
                   f"{c['alerts']} alerts")
    f = s["feeds"]
    click.echo(f"feeds: {f['total']} known, {len(f['failing'])} failing, {len(f['muted'])} muted, "
               f"{len(f['backing_off'])} backing off")
    for row in f["failing"]:
        until = next((b["until"] for b in f["backing_off"] if b["feed"] == row["feed"]), None)
        click.echo(f"  failing  {row['feed']}: {row['consecutive_failures']}x {row['last_status']}"
                   + (f", last ok {row['last_success_at'][:16].replace('T', ' ')}" if row["last_success_at"]
                      else ", never ok")
                   + (f", next try {until[:16].replace('T', ' ')}" if until else ""))
    for name in f["muted"]:
        click.echo(f"  muted    {name}")
    o = s["outbox"]
    oldest = o["oldest_pending_alert_at"]
    click.echo(f"outbox: {o['pending_alerts']} alert(s) pending"
               + (f" (oldest since {oldest[:19].replace('T', ' ')} UTC)" if oldest else "")
               + f", {o['failed_alerts']} failed, {o['pending_digests']} digest(s) pending")
    click.echo(f"snapshot: {s['snapshot']['path']}, published {_ago(s['snapshot']['age_seconds'])}")
    click.echo(f"warehouse: {s['warehouse']['path']}, {_size(s['warehouse']['size_bytes'])}")


@main.command("status")
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
@click.option("--max-age-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Also `down` when the last cycle started longer ago than this (the timer or service stopped); "
                   "e.g. three times the cycle interval.")
@handle_errors(exit_code=EXIT_CODES[DOWN])
def status_command(config: tuple[str, ...], fmt: str, as_json: bool, max_age_minutes: float | None) -> None:
    """Show the service's health and exit 0 (ok), 1 (degraded) or 2 (down): the last cycle (when, how long,
    outcome), failing / muted / backing-off feeds, the outbox backlog and its oldest pending alert, the
    snapshot's age and the warehouse size.

    \b
    ok        the last cycle polled feeds and every stage ran
    degraded  the last cycle's stage failed, a feed has failed for longer than fetch.failing_alert_hours, or an
              alert has waited longer than alerts.retry_max_seconds
    down      no feed could be polled, no cycle on record, or (--max-age-minutes) none recently
    Reads the live warehouse, or the snapshot while a cycle holds it. Errors (no warehouse) exit 2 too.

    \b
    Example:
      newswatch status --max-age-minutes 45 || echo "newswatch needs attention"
      newswatch status --json | jq .outbox
    """
    s = read_status(config, max_age_minutes)
    if as_json or fmt == "json":
        click.echo(json.dumps(s, indent=1, ensure_ascii=False))
    else:
        print_table(s)
    if s["exit_code"]:
        raise SystemExit(s["exit_code"])

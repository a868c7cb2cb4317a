"""Analyst commands of the CLI: `newswatch sql`, `incidents`, `alerts` (reading the warehouse) and the feedback
that later cycles respect: `incident dismiss/merge/split/add`, `mute`. Composition only: the reads and writes are
warehouse/'s (queries, incidents, feeds), the known incident's vector and terms pipeline/clustering.py's."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from flows.cli import (
    acting_as,
    analyst_warehouse,
    by_option,
    config_option,
    handle_errors,
    live_option,
    main,
    republish,
    settings_from,
    writable,
)
from flows.cli_output import format_option, write_results, write_rows

INCIDENT_STATUSES = ("open", "known", "dismissed", "merged")  # incidents.status, see migration 0004


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
    import warehouse.queries

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
            for result in warehouse.queries.query_script(con, script):
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
    import warehouse.queries

    wanted = list(INCIDENT_STATUSES) if "all" in statuses else list(statuses) or ["open", "known", "dismissed"]
    with analyst_warehouse(settings_from(config), live) as con:
        columns, rows = warehouse.queries.list_incidents(con, wanted)
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
    import warehouse.queries

    with analyst_warehouse(settings_from(config), live) as con:
        columns, rows = warehouse.queries.list_alerts(con)
    write_rows(columns, rows, fmt)



@main.group("incident")
def incident_group() -> None:
    """Analyst feedback on incidents: dismiss, merge, split, add. Every action is recorded in the warehouse
    (v_feedback: who, when, why) and respected by later cycles and digests.

    \b
    Example:
      newswatch incident dismiss inc-3f2a9c1b7d4e --reason "air show, not a violation"
    """


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
    import warehouse.incidents

    settings, wh = writable(config)
    with wh as con:
        cancelled = warehouse.incidents.dismiss_incident(con, incident_id, reason=reason, actor=acting_as(by), at=datetime.now(UTC))
        republish(settings, con)
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
    import warehouse.incidents

    settings, wh = writable(config)
    with wh as con:
        moved = warehouse.incidents.merge_incidents(con, keep, fold, reason=reason, actor=acting_as(by), at=datetime.now(UTC))
        republish(settings, con)
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
    import warehouse.incidents

    settings, wh = writable(config)
    with wh as con:
        new_id = warehouse.incidents.split_incident(con, incident_id, list(urls), reason=reason, actor=acting_as(by),
                                      at=datetime.now(UTC))
        republish(settings, con)
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
    import warehouse.incidents
    from flows import resources
    from pipeline.clustering import cluster_model, known_incident_features

    settings, wh = writable(config)
    engine = settings.cluster
    emb = resources.embedder(cluster_model(engine), settings.embed.batch_size)
    vector, terms = known_incident_features(emb, engine, title, description)
    at = when.replace(tzinfo=UTC)
    with wh as con:
        incident_id = warehouse.incidents.add_known_incident(
            con, title=title, description=description, when=at, country=country, intruder=intruder, model=emb.name,
            vector=vector, terms=terms, reason=reason, actor=acting_as(by), at=datetime.now(UTC))
        republish(settings, con)
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
    import warehouse.feeds

    settings, wh = writable(config)
    with wh as con:
        warehouse.feeds.set_feed_muted(con, feed, not unmute, reason=reason, actor=acting_as(by), at=datetime.now(UTC))
        republish(settings, con)
    click.echo(f"{'unmuted' if unmute else 'muted'} {feed}")

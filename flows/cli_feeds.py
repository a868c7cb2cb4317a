"""`newswatch feeds list|add|remove|import-opml|export-opml`: manage feeds without editing files. Added feeds live
in the warehouse (table feed_subscriptions) and every cycle reads them afresh, so the next `newswatch run` and a
running `newswatch serve` poll them without a restart. Composition only: OPML in pipeline.opml, SQL in
warehouse.feeds."""

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
from flows.cli_output import format_option, write_rows
from pipeline.models import FeedSubscription
from pipeline.settings import Settings


@click.group("feeds")
def feeds_group() -> None:
    """List, add and remove feeds, and move them in and out of other readers as OPML, without editing the
    config. Added feeds are kept in the warehouse and polled from the next cycle on (a running `newswatch
    serve` included); feeds of the TOML config ([[feeds]]) are listed and exported too.

    \b
    Example:
      newswatch feeds add https://www.example.org/rss.xml
      newswatch feeds import-opml feedly.opml
      newswatch feeds list
    """


def _added(settings: Settings, live: bool = False) -> list[FeedSubscription]:
    """Feeds added with these commands; none while no warehouse exists yet."""
    import warehouse.feeds

    if not Path(settings.warehouse.path).exists():
        return []
    with analyst_warehouse(settings, live) as con:
        return warehouse.feeds.read_subscriptions(con)


def polled_feed_count(settings: Settings) -> int:
    """How many feeds a cycle would poll now (configured + added, muted ones included)."""
    from pipeline.feeds import feed_sources

    return len(feed_sources(settings.feeds, _added(settings, live=True)))


def _taken(settings: Settings, added: list[FeedSubscription]) -> tuple[dict[str, str], dict[str, str]]:
    """(name -> where it is defined, url -> name) of every configured and added feed."""
    names = {s.name: "added with `newswatch feeds`" for s in added}
    names.update({f.name: "the TOML config ([[feeds]])" for f in settings.feeds})
    urls = {s.url: s.name for s in added}
    urls.update({f.url: f.name for f in settings.feeds})
    return names, urls


@feeds_group.command("list")
@config_option
@format_option
@live_option
@handle_errors
def feeds_list(config: tuple[str, ...], fmt: str, live: bool) -> None:
    """List every feed a cycle polls: configured ones (source `config`) and added ones (source `added`), with
    their title, folder, whether an analyst muted them, and how their last poll went.

    \b
    Example:
      newswatch feeds list --format csv
    """
    import warehouse.feeds

    settings = settings_from(config)
    added = _added(settings, live)
    health: dict[str, tuple[Any, ...]] = {}
    if Path(settings.warehouse.path).exists():
        with analyst_warehouse(settings, live) as con:
            health = warehouse.feeds.read_feed_health(con)
    configured = {f.name for f in settings.feeds}
    rows = [(f.name, "config", None, None, f.url) for f in settings.feeds]
    rows += [(s.name, "added (shadowed by config)" if s.name in configured else "added", s.title, s.category, s.url)
             for s in added]
    no_health = (None, None, None, None, None)
    write_rows(["name", "source", "title", "category", "url", "muted", "last_status", "consecutive_failures",
                "last_polled_at", "items_total"], [(*r, *health.get(r[0], no_health)) for r in rows], fmt)


def _check_feed(settings: Settings, url: str) -> str | None:
    """GET `url` as a cycle would (same limits, address rules and proxies) and parse it; returns the feed's title. Raises FetchFailed (unreachable,
    refused, HTTP error) or FeedMalformed (it answers, but not with RSS/Atom)."""
    from flows.resources import http_client
    from pipeline import feeds as feed_stage
    from pipeline.models import FeedSource

    source = FeedSource("new-feed", url)
    fetch = settings.fetch
    with http_client(settings) as client:
        resp = feed_stage.fetch_feed(client, source, fetch, None, None)
    parsed = feed_stage.parse_feed(source, resp.body or b"", resp.content_type, resp.final_url,
                                   fetch.max_entries_per_feed)
    return parsed.title


@feeds_group.command("add")
@config_option
@click.argument("url")
@click.option("--name", default=None, help="Short unique slug (default: from the feed's title).")
@click.option("--title", default=None, help="Display title (default: the feed's own title).")
@click.option("--category", default=None, help="Folder for OPML export, e.g. 'News/Europe'.")
@click.option("--no-check", is_flag=True, help="Add without fetching the URL first.")
@by_option
@handle_errors
def feeds_add(config: tuple[str, ...], url: str, name: str | None, title: str | None, category: str | None,
              no_check: bool, by: str | None) -> None:
    """Add a feed: it is fetched once to check that it answers with RSS or Atom (a web page, an error or an
    unreachable host is refused with the reason), then kept in the warehouse and polled from the next cycle on.
    Loopback and private addresses need fetch.allow_private_addresses = true, as in a cycle.

    \b
    Example:
      newswatch feeds add https://www.example.org/rss.xml --category "News/Europe"
    """
    import warehouse.feeds
    from pipeline.errors import NewswatchError
    from pipeline.opml import slug, unique_name

    settings = settings_from(config)
    if not url.startswith(("http://", "https://")):
        raise click.ClickException(f"{url}: a feed URL starts with http:// or https://")
    if name is not None and slug(name) != name:
        raise click.ClickException(f"--name {name!r}: use lower-case letters, digits and hyphens (e.g. {slug(name)!r})")
    feed_title = None
    if not no_check:
        try:
            feed_title = _check_feed(settings, url)
        except NewswatchError as exc:
            raise click.ClickException(f"not added: {exc}") from exc
    title = title or feed_title
    settings, wh = writable(config, create=True)  # the first feeds may come before the first run
    with wh as con:
        names, urls = _taken(settings, warehouse.feeds.read_subscriptions(con))
        if url in urls:
            raise click.ClickException(f"{url}: already a feed, named {urls[url]!r}")
        if name is not None and name in names:
            raise click.ClickException(f"--name {name!r}: already used by a feed from {names[name]}")
        feed = FeedSubscription(name or unique_name(title, url, set(names)), url, title, category,
                                datetime.now(UTC), acting_as(by))
        warehouse.feeds.insert_subscriptions(con, [feed])
        republish(settings, con)
    click.echo(f"added {feed.name}" + (f" ({feed.title})" if feed.title else "")
               + ": polled from the next cycle")


@feeds_group.command("remove")
@config_option
@click.argument("name")
@click.option("--reason", default=None, help="Why (kept in v_feedback).")
@by_option
@handle_errors
def feeds_remove(config: tuple[str, ...], name: str, reason: str | None, by: str | None) -> None:
    """Stop polling a feed added with `newswatch feeds add` or `import-opml`; its stored articles and poll
    history stay. A feed of the TOML config is removed there (or muted: `newswatch mute NAME`).

    \b
    Example:
      newswatch feeds remove example-news --reason "moved behind a paywall"
    """
    import warehouse.feeds

    settings, wh = writable(config)
    if name in {f.name for f in settings.feeds}:
        raise click.ClickException(f"feed {name!r} comes from the TOML config: delete its [[feeds]] entry there, "
                                   f"or stop polling it with `newswatch mute {name}`")
    with wh as con:
        if not warehouse.feeds.delete_subscription(con, name, reason=reason, actor=acting_as(by), at=datetime.now(UTC)):
            raise click.ClickException(f"no added feed named {name!r} (see `newswatch feeds list`)")
        republish(settings, con)
    click.echo(f"removed {name}: not polled from the next cycle on")


def _read_input(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot read: {exc.strerror or exc}") from exc


@feeds_group.command("import-opml")
@config_option
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@by_option
@handle_errors
def feeds_import_opml(config: tuple[str, ...], file: str, by: str | None) -> None:
    """Add every feed of an OPML file (exported by Feedly, Miniflux, Inoreader, NetNewsWire...; '-' reads
    standard input). Nested folders become categories ("News/Europe"); feeds already present (same URL) are
    skipped; names come from the titles. Feeds are not fetched here: a dead one shows up in `feeds list` after
    the next cycle.

    \b
    Example:
      newswatch feeds import-opml subscriptions.opml
    """
    import warehouse.feeds
    from pipeline.opml import parse_opml, unique_name

    opml_feeds = parse_opml(_read_input(file), source=file)
    settings, wh = writable(config, create=True)  # the first feeds may come before the first run
    now, actor = datetime.now(UTC), acting_as(by)
    with wh as con:
        names, urls = _taken(settings, warehouse.feeds.read_subscriptions(con))
        new: list[FeedSubscription] = []
        skipped = 0
        for f in opml_feeds:
            if f.xml_url in urls:
                skipped += 1
                continue
            name = unique_name(f.title, f.xml_url, set(names))
            names[name] = file
            urls[f.xml_url] = name
            new.append(FeedSubscription(name, f.xml_url, f.title, f.category, now, actor))
        warehouse.feeds.insert_subscriptions(con, new)
        if new:
            republish(settings, con)
    click.echo(f"imported {len(new)} feeds from {file}" + (f"; {skipped} already present, skipped" if skipped else "")
               + ("; polled from the next cycle" if new else ""))


@feeds_group.command("export-opml")
@config_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="Write the OPML here ('-': standard output).")
@live_option
@handle_errors
def feeds_export_opml(config: tuple[str, ...], output: str, live: bool) -> None:
    """Write every feed (configured and added) as OPML 2.0 for another reader or a backup: titles, folders as
    nested outlines, xmlUrl. `import-opml` of the file gives the same feeds back.

    \b
    Example:
      newswatch feeds export-opml -o feeds.opml
    """
    from pipeline.opml import OpmlFeed, render_opml

    settings = settings_from(config)
    configured = {f.name for f in settings.feeds}
    feeds = [OpmlFeed(title=f.name, xml_url=f.url) for f in settings.feeds]
    feeds += [OpmlFeed(title=s.title or s.name, xml_url=s.url, category=s.category)
              for s in _added(settings, live) if s.name not in configured]
    text = render_opml(feeds)
    if output == "-":
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(feeds)} feeds to {output}", err=True)


main.add_command(feeds_group)

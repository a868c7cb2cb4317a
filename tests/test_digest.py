"""The daily digest from a real warehouse: local times, cards with their articles, what is new on a grown
incident, counts as of the day, feed health, the activity strip, and no digest before the first cycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import warehouse.articles
import warehouse.connection
import warehouse.feeds
import warehouse.incidents
import warehouse.outbox
from flows.cli import main
from flows.deliver import deliver_outbox, queue_digest, read_day_digest
from pipeline.alerts import summarize
from pipeline.digest import DigestRows, FeedRow, build_activity, build_digest, feed_failing, render_html, render_text
from pipeline.models import FeedEntry, FeedSource, Judgement, stable_id
from pipeline.settings import Settings, load_settings
from tests.outbox_servers import HOSTILE, LEDE, seed_incident

DAY = date(2025, 9, 10)  # Europe/Warsaw is UTC+2 (CEST) that day
FIRST_CYCLE = datetime(2025, 9, 9, 6, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 9, day, hour, minute, tzinfo=UTC)


def url(slug: str) -> str:
    return f"https://news.example/{slug}"


def seed(path: str) -> None:
    """Two incidents and their articles around 2025-09-10 (Warsaw), a piece in no incident, a dismissed
    incident, and five feeds: answering, failing, muted, silent, never an item."""
    seed_incident(path, "inc-old", "Drone debris found near Lublin", "Poland", "drones", [
        ("baltic-wire", "Drone debris found near Lublin", url("old-1"), at(8, 10), "Debris was found in a field."),
        ("nordic-times", "Lublin debris came from a Gerbera drone", url("old-2"), at(9, 22, 30),  # 00:30 local
         "Investigators said the debris came from a Gerbera decoy drone. It carried no warhead."),
        ("defense-desk", "Prosecutors open case over Lublin drone", url("old-3"), at(10, 15),
         "Polish prosecutors opened a case over the drone. The army is searching the area. More later."),
    ])
    seed_incident(path, "inc-new", "Russian drones enter Polish airspace", "Poland", "drones", [
        ("baltic-wire", "Russian drones enter Polish airspace", url("new-1"), at(10, 4, 5), LEDE),  # 06:05 local
        ("world-brief", "Poland shoots down drones", url("new-2"), at(10, 5, 30), "Jets fired on the drones."),
        ("eastern-post", "Drony nad Polską", url("new-3"), at(10, 23, 30), "Wojsko użyło uzbrojenia."),  # 11th local
    ])
    seed_incident(path, "inc-gone", "Air show over Gdynia", "Poland", "fighter jets", [
        ("baltic-wire", "Air show over Gdynia", url("show"), at(10, 8), "An air show."),
    ])
    analysis = FeedEntry(stable_id(url("analysis")), "world-brief", url("analysis"), url("analysis"),
                         "What Article 4 means", "", at(10, 9), "en")
    with warehouse.connection.open_warehouse(path) as con:
        from pipeline.models import Extraction

        warehouse.articles.save_article(con, analysis, None, Extraction("ok", "", analysis.title, "An explainer.", at(10, 9), "en",
                                                            "precision"), fetched_at=at(10, 9))
        ids = [stable_id(url(s)) for s in ("old-1", "old-2", "old-3", "new-1", "new-2", "new-3", "show", "analysis")]
        warehouse.articles.insert_judgements(con, [Judgement(i, True, 0.9, "test", True, "Poland", "drones") for i in ids], at(10, 9))
        warehouse.incidents.dismiss_incident(con, "inc-gone", reason="air show", actor="desk", at=at(10, 9))
        warehouse.outbox.register_channels(con, [("log", "log")], FIRST_CYCLE)
        warehouse.feeds.upsert_feeds(con, [FeedSource(n, f"https://{n}.example/feed.xml") for n in
                                 ("baltic-wire", "gone-outlet", "quiet-feed", "stale-feed", "new-feed")])
        items = [FeedEntry(stable_id(f"{feed}-{n}"), feed, f"{feed}-{n}", url(f"{feed}-{n}"), "t", "", when, "en")
                 for feed, n, when in (("baltic-wire", 1, at(10, 4, 5)), ("baltic-wire", 2, at(10, 8)),
                                       ("baltic-wire", 3, at(10, 23)), ("stale-feed", 1, at(1, 12)),
                                       ("quiet-feed", 1, at(9, 12)), ("gone-outlet", 1, at(8, 12)))]
        warehouse.articles.upsert_entries(con, items, FIRST_CYCLE)
        for name in ("baltic-wire", "quiet-feed", "stale-feed", "new-feed"):
            warehouse.feeds.mark_feed_polled(con, name, polled_at=at(10, 12), status="ok", error=None, etag=None,
                                   last_modified=None, next_poll_at=None)
        warehouse.feeds.mark_feed_polled(con, "gone-outlet", polled_at=at(10, 12), status="http_404",
                               error="https://gone-outlet.example/feed.xml: http_404 (Not Found)", etag=None,
                               last_modified=None, next_poll_at=None)
        warehouse.feeds.set_feed_muted(con, "quiet-feed", True, reason="noisy", actor="desk", at=at(10, 12))


@pytest.fixture
def warsaw(tmp_path: Path) -> tuple[Settings, Path]:
    config = tmp_path / "c.toml"
    config.write_text(f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\nbusy_timeout_seconds = 5\n'
                      f'[digest]\nout_dir = "{tmp_path / "out"}"\ntimezone = "Europe/Warsaw"\n'
                      '[alerts]\nchannels = [{ name = "hook", type = "webhook", url = "http://127.0.0.1:9/x", '
                      'digest = true }]\n', encoding="utf-8")
    settings = load_settings([config], environ={})
    seed(settings.warehouse.path)
    return settings, config


def digest_of(settings: Settings, day: date = DAY):  # type: ignore[no-untyped-def]
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        return read_day_digest(con, settings, day)


def test_a_new_incident_shows_its_first_report_in_local_time_with_its_summary_and_its_articles(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    data = digest_of(settings)
    [new] = data.new_incidents
    assert new.incident_id == "inc-new" and new.summary == summarize(LEDE)
    assert [a.url for a in new.today] == [url("new-1"), url("new-2")]  # 01:30 on the 11th is not the 10th's
    assert (new.article_count, new.source_count) == (2, 2)  # as of the end of the 10th
    html, text = render_html(data), render_text(data)
    assert "First report 2025-09-10 06:05 CEST" in html and "first report 2025-09-10 06:05 CEST" in text
    assert "04:05" not in html and "04:05" not in text
    assert "2 articles from 2 sources by the end of the day" in html
    assert summarize(LEDE) in html and "Drony nad Polską" not in html
    assert "Top articles" not in html and "TOP ARTICLES" not in text


def test_a_grown_incident_shows_what_is_new_that_day(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    data = digest_of(settings)
    [grown] = data.grown_incidents
    assert grown.incident_id == "inc-old"
    assert [a.url for a in grown.today] == [url("old-2"), url("old-3")]  # 00:30 local on the 10th counts
    assert grown.newest.title == "Prosecutors open case over Lublin drone"
    assert grown.new_sources == ("nordic-times", "defense-desk")
    assert grown.summary == "Polish prosecutors opened a case over the drone. The army is searching the area."
    html = render_html(data)
    card = html.split("Incidents that grew")[1].split("Other articles")[0]
    assert "Newest:" in card and "Prosecutors open case over Lublin drone" in card and "17:00" in card
    assert "New sources:</b> nordic-times, defense-desk" in card
    assert "First report 2025-09-08 12:00 CEST" in card and "3 articles from 3 sources" in card


def test_dismissed_incidents_stay_out_and_pieces_in_no_incident_are_listed_once(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    data = digest_of(settings)
    text = render_text(data)
    assert "Air show over Gdynia" not in text
    assert [a.title for a in data.other_articles] == ["What Article 4 means"]
    assert text.count("What Article 4 means") == 1 and text.count("Poland shoots down drones") == 1


def test_feed_health_labels_failing_muted_silent_and_items_of_the_day(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    data = digest_of(settings)
    feeds = {f.feed: f for f in data.feeds}
    assert feeds["gone-outlet"].failing == "http_404, 1 poll in a row: Not Found"
    assert feeds["quiet-feed"].muted and not feeds["baltic-wire"].muted
    assert feeds["stale-feed"].silent and feeds["stale-feed"].silent_days == 9
    assert feeds["new-feed"].silent_days is None and feeds["new-feed"].silent
    assert feeds["baltic-wire"].items_today == 2 and not feeds["baltic-wire"].problem  # 23:00 UTC is the 11th
    assert [f.feed for f in data.feeds][-1] == "baltic-wire"  # problems first
    html = render_html(data)
    for label in ("<th", ">Failing<", ">Muted<", ">Silent for<", ">Items today<"):
        assert label in html, label
    assert "9 days" in html and "no items yet" in html and html.count("gone-outlet.example") == 0


def test_the_activity_strip_counts_articles_per_country_and_local_day(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    activity = digest_of(settings).activity
    assert len(activity.days) == 14 and activity.days[-1] == DAY and activity.days[0] == date(2025, 8, 28)
    [poland] = activity.rows
    assert poland.country == "Poland"
    assert poland.counts[-1] == 5 and poland.counts[-3] == 1 and sum(poland.counts) == 6  # air show dismissed
    html = render_html(digest_of(settings))
    strip = html.split("Activity by country")[1].split("Feed health")[0]
    assert strip.count('bgcolor="') == 14 and "<img" not in html and "url(" not in html


def test_the_strip_keeps_the_busiest_countries_and_sums_the_rest() -> None:
    points = [(at(10, 12), c) for c in ["A"] * 5 + ["B"] * 4 + ["C"] * 3 + ["D"] * 2 + [None]]
    activity = build_activity(points, DAY, "UTC", max_countries=2)
    assert [(r.country, r.counts[-1]) for r in activity.rows] == [("A", 5), ("B", 4), ("other", 6)]


def test_no_digest_is_sent_for_a_day_before_the_first_cycle(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, config = warsaw
    assert digest_of(settings, date(2025, 9, 8)).before_first_cycle
    assert not digest_of(settings).before_first_cycle
    # the first cycle's delivery pass (07:30 Warsaw on the 9th) has yesterday's digest due: not queued
    assert deliver_outbox(settings, now=at(9, 5, 30)).digests_queued == []
    assert queue_digest(settings, date(2025, 9, 8), at(9, 5, 30)) == []
    runner = CliRunner()
    refused = runner.invoke(main, ["digest", "-c", str(config), "--date", "2025-09-08", "--send"])
    assert refused.exit_code != 0
    assert "Error: Invalid value for --date: 2025-09-08 is before monitoring began (the first cycle ran on " \
           "2025-09-09): not sent" in refused.output
    written = runner.invoke(main, ["digest", "-c", str(config), "--date", "2025-09-08"])
    assert written.exit_code == 0 and "note: 2025-09-08 is before monitoring began" in written.output
    assert queue_digest(settings, DAY, at(11, 5, 30)) == ["hook"]


def test_a_warehouse_without_a_cycle_sends_no_digest(tmp_path: Path) -> None:
    rows = DigestRows((), (), (), (), (), 0, 0, None)
    assert build_digest(rows, DAY, "UTC").before_first_cycle
    assert "Quiet day" in render_text(build_digest(rows, DAY, "UTC"))


def test_hostile_feed_text_is_escaped_and_only_http_links_are_made(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    seed_incident(settings.warehouse.path, "inc-x", HOSTILE, None, None, [
        ("baltic-wire", HOSTILE, "javascript:alert(1)", at(10, 13), HOSTILE)])
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        warehouse.articles.insert_judgements(con, [Judgement(stable_id("javascript:alert(1)"), True, 1, "t", True, None, None)],
                                at(10, 13))
    html = render_html(digest_of(settings))
    assert "<script>" not in html and "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and 'href="https://news.example/new-1"' in html


def test_a_time_zone_that_does_not_exist_names_the_setting() -> None:
    from pipeline.errors import ConfigInvalid

    with pytest.raises(ConfigInvalid, match="digest.timezone"):
        build_digest(DigestRows((), (), (), (), (), 0, 0, None), DAY, "Mars/Olympus")


def test_every_digest_time_is_in_the_digest_time_zone(warsaw) -> None:  # type: ignore[no-untyped-def]
    settings, _ = warsaw
    text = render_text(digest_of(settings))
    assert "times in Europe/Warsaw" in text and " UTC" not in text
    assert "06:05  Russian drones enter Polish airspace" in text and "07:30  Poland shoots down drones" in text


def test_a_feed_counts_as_failing_once_its_last_success_is_that_long_before_its_last_poll() -> None:
    polled = datetime(2025, 9, 10, 12, tzinfo=UTC)

    def row(failures: int, success_hours_before: float | None) -> FeedRow:
        success = None if success_hours_before is None else polled - timedelta(hours=success_hours_before)
        return FeedRow("f", "http://f/", "timeout" if failures else "ok", failures, None, polled, success, False, 0,
                       None)

    assert feed_failing(row(1, 6), 6) and feed_failing(row(3, 30), 6)
    assert not feed_failing(row(2, 5.9), 6)
    assert feed_failing(row(1, None), 6)  # never answered: failing from its first poll
    assert not feed_failing(row(0, 0), 6)  # answered at its last poll

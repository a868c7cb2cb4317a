"""The digest and the alert e-mail as a reader sees them: rendered by headless Chromium (Debian's `chromium`)
at a phone's width (375 px) and a desktop mail pane's (900 px), nothing sticks out sideways and nothing is
blank. The mails carry long titles, long unbroken words and URLs, a failing feed with a long error, and a
busy activity strip: the worst a feed can send. Skipped only where chromium is missing outside CI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts import AlertDetail, SourceRef, render_alert_html
from pipeline.digest import DigestArticle, DigestRows, FeedRow, IncidentRow, build_digest, render_html
from pipeline.models import Alert
from tests.chromium import find_chromium, measure, must_run_here, png_size_and_colours, screenshot, serve_directory
from tests.outbox_servers import HOSTILE, LEDE

DAY = date(2025, 9, 10)
LONG_WORD = "Przeciwlotniczo" * 6  # 90 letters, no break opportunity
LONG_URL = "https://very-long-outlet-name.example/" + "section/" * 12 + "drones-over-poland-" * 4 + ".html"
WIDTHS = (375, 900)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 9, day, hour, minute, tzinfo=UTC)


def worst_case_digest() -> str:
    title = f"Russian drones {LONG_WORD} enter Polish airspace as jets scramble over the whole eastern border region"
    incidents = [IncidentRow("inc-new", title, "Poland", "fighter jets and drones", at(10, 4, 5), "a1"),
                 IncidentRow("inc-old", HOSTILE, "Estonia", "fighter jets", at(8, 9), "b1")]
    members = [DigestArticle("a1", "inc-new", title, LONG_URL, "baltic-wire-with-a-long-feed-name", at(10, 4, 5), LEDE)]
    members += [DigestArticle(f"a{n}", "inc-new", f"Follow-up {n}: {title}", f"{LONG_URL}?n={n}", f"outlet-{n}",
                              at(10, 5 + n), LEDE) for n in range(2, 14)]
    members += [DigestArticle("b1", "inc-old", HOSTILE, "https://e.example/1", "err", at(8, 9)),
                DigestArticle("b2", "inc-old", LONG_WORD, LONG_URL, "err-2", at(10, 20), LONG_WORD + ". " + LEDE)]
    others = tuple(DigestArticle(f"o{n}", None, f"Analysis {n}: {LONG_WORD}", LONG_URL, "analysis-desk",
                                 at(10, 9 + n)) for n in range(12))
    feeds = tuple(FeedRow(f"feed-{n:02d}-{'x' * 20}", f"https://f{n}.example/feed.xml", "http_503" if n % 3 else "ok",
                          n % 3, f"HTTP 503 Service Unavailable from {LONG_URL} " + LONG_WORD if n % 3 else None,
                          at(10, 1), at(10, 1) - timedelta(hours=7 if n % 3 == 1 else 1), n % 4 == 0, n,
                          at(10, 1) - timedelta(days=n)) for n in range(12))
    activity = tuple((at(10, 12) - timedelta(days=n % 14, hours=n % 5), country)
                     for n in range(400) for country in ("Poland", "Estonia", "Lithuania", "Latvia", "Romania",
                                                         "Finland", "Germany", "Denmark", "Norway", None)[: 1 + n % 10])
    rows = DigestRows(tuple(incidents), tuple(members), others, feeds, activity, 214, 57, at(1, 0))
    return render_html(build_digest(rows, DAY, "Europe/Warsaw", max_articles=10, failing_for_hours=6))


def worst_case_alert() -> str:
    title = f"Russian drones {LONG_WORD} enter Polish airspace as jets scramble over the eastern border"
    alert = Alert("a1b2c3d4e5f60718", "inc-3f2a9c1b7d4e", "art-1", "desk", "pending", at(10, 4, 5), title,
                  "Poland", "drones", LONG_URL, title, "baltic-wire-with-a-long-feed-name", at(10, 4, 5))
    others = tuple(SourceRef(f"outlet-{n}", f"{HOSTILE} {LONG_WORD}", f"{LONG_URL}?n={n}", at(10, 5 + n))
                   for n in range(9))
    return render_alert_html(AlertDetail(alert, LEDE + " " + LONG_WORD, others, 10), "Europe/Warsaw")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if must_run_here():
            pytest.fail("chromium is not installed: CI must install it (.ci/run: apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("mails")
    (root / "digest.html").write_text(worst_case_digest(), encoding="utf-8")
    (root / "alert.html").write_text(worst_case_alert(), encoding="utf-8")
    with serve_directory(root) as base:
        yield base, root


def check(measured: dict[str, Any], width: int, needles: tuple[str, ...]) -> None:
    assert measured["innerWidth"] == width
    assert measured["scrollWidth"] <= measured["innerWidth"], measured["outside"]
    assert measured["bodyScrollWidth"] <= measured["innerWidth"], measured["outside"]
    assert measured["outside"] == []
    assert measured["height"] > 400
    for needle in needles:
        assert needle in measured["text"], needle


@pytest.mark.parametrize("width", WIDTHS)
def test_the_digest_fits_the_screen_and_shows_everything(chromium: str, served: tuple[str, Path], width: int) -> None:
    base, root = served
    m = measure(chromium, base, root, "digest.html", width)
    check(m, width, ("New incidents (1)", "Incidents that grew (1)", "First report 2025-09-10 06:05 CEST",
                     "and 3 more today", "Other articles about the topic (12)", "Activity by country, last 14 days",
                     "Feed health", "Items today", "Silent for", "<script>alert(1)</script>"))
    cells = m["cells"]
    assert len(cells) == 14 * 9  # eight countries and "other", fourteen days each
    assert all(w >= 10 and h >= 14 for w, h, _ in cells), cells[:5]
    assert len({colour for _, _, colour in cells}) >= 3  # shaded by count, not one flat colour


@pytest.mark.parametrize("width", WIDTHS)
def test_the_alert_mail_fits_the_screen_and_shows_the_commands(chromium: str, served: tuple[str, Path],
                                                                width: int) -> None:
    base, root = served
    check(measure(chromium, base, root, "alert.html", width), width,
          ("inc-3f2a9c1b7d4e", "newswatch incident dismiss inc-3f2a9c1b7d4e", "newswatch incident merge KEEP-ID "
           "inc-3f2a9c1b7d4e", "2025-09-10 06:05 CEST (04:05 UTC)", "Sources so far: 10"))


def test_the_screenshot_of_the_digest_is_not_blank(chromium: str, served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    width, height, colours = png_size_and_colours(screenshot(chromium, f"{base}/digest.html", tmp_path / "d.png",
                                                             900, 1200))
    assert (width, height) == (900, 1200) and colours > 50

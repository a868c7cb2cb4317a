"""Extraction says why a page was skipped instead of answering None."""

from __future__ import annotations

from pipeline.extract import detect_language, extract_article
from tests.conftest import CORPUS

SITE = CORPUS / "site"


def page(path: str) -> bytes:
    return (SITE / path).read_bytes()


def test_a_full_article_is_ok_with_its_text_and_language() -> None:
    e = extract_article("u", page("baltic-wire/2025/09/10/poland-scrambles-jets-as-drones-cross-border.html"))
    assert e.status == "ok" and len(e.text.split()) > 150 and e.lang == "en"
    assert "Subscribe" not in e.text


def test_a_paywall_stub_is_skipped_as_paywall() -> None:
    e = extract_article("u", page("defense-desk/air/2025/09/22/twelve-minutes-over-vaindloo-reconstructing-mig31-incursion.html"))
    assert e.status == "paywall" and "subscription" in e.reason
    assert "MiG-31" in e.text  # the visible lead is kept for clustering


def test_a_javascript_app_shell_is_skipped_as_js_shell() -> None:
    e = extract_article("u", page("world-brief/live/2025/09/24/denmark-investigates-drones-copenhagen-airport.html"))
    assert e.status == "js_shell"


def test_a_short_page_is_too_short_and_says_how_short() -> None:
    html = b"<html><body><article><p>Drones seen near the base tonight, officials said.</p></article></body></html>"
    e = extract_article("u", html, min_words=60)
    assert e.status in ("too_short", "no_text")


def test_non_english_pages_keep_their_language() -> None:
    e = extract_article("u", page("eastern-flank-post/pl/2025/09/10/drony-nad-polska-wojsko-uzylo-uzbrojenia.html"))
    assert e.status == "ok" and e.lang == "pl"
    assert detect_language("Kolm Vene hävitajat rikkusid Eesti õhuruumi, teatas kaitsevägi reedel.") == "et"


def test_a_non_html_body_is_not_extracted() -> None:
    assert extract_article("u", b"%PDF-1.4", "application/pdf").status == "not_html"


def test_a_language_the_feed_declared_is_taken_as_it_is() -> None:
    polish = page("eastern-flank-post/pl/2025/09/10/drony-nad-polska-wojsko-uzylo-uzbrojenia.html")
    assert extract_article("u", polish, lang="pl").lang == "pl"
    assert extract_article("u", polish).lang == "pl"  # detected when the feed said nothing


def test_without_metadata_the_text_is_the_same_and_no_title_or_date_is_looked_for() -> None:
    for path in ("baltic-wire/2025/09/10/poland-scrambles-jets-as-drones-cross-border.html",
                 "eastern-flank-post/pl/2025/09/10/drony-nad-polska-wojsko-uzylo-uzbrojenia.html"):
        full, lean = extract_article("u", page(path)), extract_article("u", page(path), metadata=False)
        assert full.title and lean.text == full.text and lean.status == full.status
        assert lean.title == "" and lean.published_at is None

"""The day a report dates its event to: a weekday beside a part of the day, in the article's language or English,
resolved to the latest such weekday on or before the day after publication. A bare weekday dates a statement, not
the event, and is ignored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from pipeline.eventday import stated_day

SATURDAY_MORNING = datetime(2025, 9, 27, 7, 40, tzinfo=timezone(timedelta(hours=2)))  # a Saturday


@pytest.mark.parametrize(("title", "text", "lang", "day"), [
    ("Drones spotted over an air base", "Police said on Saturday that drones were seen on Friday evening.", "en",
     date(2025, 9, 26)),
    ("Airport reopens", "Flights resumed early on Thursday after drones hovered overnight.", "en", date(2025, 9, 25)),
    ("Droner set over flyvestationen fredag aften", "Politiet bekræfter observationerne.", "da", date(2025, 9, 26)),
    ("Drohnen über dem Flughafen", "Am Freitagabend wurden mehrere Drohnen gesichtet.", "de", date(2025, 9, 26)),
    ("Drony nad lotniskiem", "W nocy z czwartku na piątek radary wykryły obiekt.", "pl", date(2025, 9, 25)),
    ("O dronă s-a prăbușit", "O dronă a pătruns în noaptea de joi spre vineri în spațiul aerian.", "ro",
     date(2025, 9, 25)),
    ("Lentoasema suljettiin", "Droonit havaittiin keskiviikkona illalla kentän lähellä.", "fi", date(2025, 9, 24)),
    ("气球飞越台湾北部", "国防部表示，星期五晚上一个气球飞越台湾北部。", "zh", date(2025, 9, 26)),
    ("Droon", "Kaitsevägi teatas, et neljapäeva õhtul rikkus Vene droon Eesti õhuruumi.", "et", date(2025, 9, 25)),
    ("Drons", "Piektdienas vakarā Krievijas drons ielidoja Latvijas gaisa telpā.", "lv", date(2025, 9, 26)),
    ("Balionai", "Penktadienio vakarą Vilniaus oro uoste sustabdyti skrydžiai.", "lt", date(2025, 9, 26)),
    ("Drones", "Vrijdagavond werden drones boven de luchthaven gezien.", "nl", date(2025, 9, 26)),
    ("Drönare", "Under natten till fredag siktades drönare över flygplatsen.", "sv", date(2025, 9, 26)),
    ("Droner", "Fredag kveld ble det observert droner over flyplassen.", "no", date(2025, 9, 26)),
    ("ドローン目撃", "金曜日の夜、空港上空でドローンが目撃された。", "ja", date(2025, 9, 26)),
    ("공항 상공 드론", "금요일 저녁 공항 상공에서 드론이 목격됐다.", "ko", date(2025, 9, 26)),
    ("Drony nad letištěm", "V pátek večer byly nad letištěm spatřeny drony.", "cs", date(2025, 9, 26)),
])
def test_a_weekday_beside_a_part_of_the_day_dates_the_event(title: str, text: str, lang: str, day: date) -> None:
    assert stated_day(title, text, SATURDAY_MORNING, lang) == day


def test_a_bare_weekday_dates_a_statement_and_is_ignored() -> None:
    text = "Denmark will widen the powers of the military, ministers said on Friday, after drones closed an airport."
    assert stated_day("Denmark moves to widen powers", text, SATURDAY_MORNING, "en") is None


def test_several_days_give_the_earliest_the_event_comes_before_statements_about_it() -> None:
    text = "The minister said on Saturday morning that drones seen on Thursday night had come from the sea."
    assert stated_day("Minister speaks", text, SATURDAY_MORNING, "en") == date(2025, 9, 25)


def test_a_utc_timestamp_late_in_the_evening_may_speak_of_the_next_local_day() -> None:
    published = datetime(2025, 11, 18, 23, 10, tzinfo=UTC)  # Tuesday 23:10 UTC is Wednesday in Romania
    text = "A drone crossed into Tulcea county early on Wednesday, the defence ministry said."
    assert stated_day("Romania scrambles jets", text, published, "en") == date(2025, 11, 19)


def test_only_the_lead_is_read() -> None:
    text = " ".join(["word"] * 80) + " on Friday evening"
    assert stated_day("Headline", text, SATURDAY_MORNING, "en") is None


def test_words_of_other_languages_that_look_like_weekdays_are_not_read_in_english() -> None:
    # Romanian "marți" (Tuesday) is a prefix of the English "martial": English text is read in English only
    text = "A martial court met in the evening to hear the case of the pilots."
    assert stated_day("Court hears pilots", text, SATURDAY_MORNING, "en") is None



def test_a_bare_date_or_a_local_time_is_its_own_day() -> None:
    """Only an afternoon or evening time in UTC may speak of the next local day: a bare date (midnight) or a time
    with its own offset is the day the text counts back from ("Saturday night" on a Friday is last Saturday)."""
    text = "The couple had been out since Saturday night, police said."
    friday_date = datetime(2015, 6, 12, tzinfo=UTC)
    assert stated_day("Shooting", text, friday_date, "en") == date(2015, 6, 6)
    friday_evening_local = datetime(2015, 6, 12, 22, 0, tzinfo=timezone(timedelta(hours=2)))
    assert stated_day("Shooting", text, friday_evening_local, "en") == date(2015, 6, 6)

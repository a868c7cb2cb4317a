"""Behaviour of the assignment loop shared by the live pipeline and `newswatch cluster-file`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from pipeline.assign import StreamItem, assign_stream, build_index
from pipeline.incidents import ClusterSettings
from pipeline.lexical import DocFreq
from pipeline.defaults import SHIPPED_TOPIC
from pipeline.topics import load_topic

T0 = datetime(2025, 9, 10, 4, 0, tzinfo=UTC)
SETTINGS = ClusterSettings(window_days=400.0, threshold=0.5, dense_floor=0.0, decay_days=5.0, decay_floor=0.6,
                           lexical_decay_floor=0.6, full_words=0)
DRONE = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
FIRST = "Drones cross into Poland near Wyryki"
FIRST_TEXT = "Polish jets scrambled after Russian drones crossed into Poland overnight; debris fell near Wyryki."
CHARGED = "A man was charged over the Russian drones that crossed into Poland near Wyryki in September."
EXAMINED = "Investigators examined the Russian drones that crossed into Poland near Wyryki in September."


def _stream(later_title: str, later_text: str) -> list[str | None]:
    items = [StreamItem("a", T0, FIRST, FIRST_TEXT, DRONE),
             StreamItem("b", T0 + timedelta(days=90), later_title, later_text, DRONE)]
    later_stage = load_topic(SHIPPED_TOPIC).later_stage
    return [r.incident_id for r in assign_stream(build_index(SETTINGS, DocFreq(), []), items, later_stage)]


def test_a_headline_naming_a_later_stage_joins_its_incident_months_later() -> None:
    first, later = _stream("Man charged over Wyryki drone debris", EXAMINED)
    assert later == first


def test_a_lead_sentence_naming_a_later_stage_joins_its_incident_months_later() -> None:
    first, later = _stream("Wyryki drone debris: an update", CHARGED)
    assert later == first


def test_the_same_story_naming_no_later_stage_stays_apart_months_later() -> None:
    first, later = _stream("Wyryki drone debris: an update", EXAMINED)
    assert later != first


def _assign(items: list[StreamItem], **settings: float) -> list[str | None]:
    engine = ClusterSettings(**{**SETTINGS.__dict__, **settings})
    return [r.incident_id for r in assign_stream(build_index(engine, DocFreq(), []), items)]


def test_an_item_that_may_not_join_stays_in_no_incident_however_alike() -> None:
    """A sure analysis piece about the incident, in the same words: it joins nothing, and the next report still
    joins the incident."""
    items = [StreamItem("a", T0, FIRST, FIRST_TEXT, DRONE),
             StreamItem("why", T0 + timedelta(hours=2), FIRST, FIRST_TEXT, DRONE, may_join=False),
             StreamItem("b", T0 + timedelta(hours=3), FIRST, FIRST_TEXT, DRONE)]
    records = assign_stream(build_index(SETTINGS, DocFreq(), []), items)
    assert [(r.article_id, r.incident_id is None, r.opened) for r in records] == [
        ("a", False, True), ("why", True, False), ("b", False, False)]
    assert records[2].incident_id == records[0].incident_id


def test_another_states_report_days_later_opens_its_own_incident() -> None:
    """Drone debris in Moldova, then three days later in Romania: alike in every word but the state."""
    text = "Fragments of a Russian drone were found in a field near the border after strikes on the port across it."
    items = [StreamItem("md", T0, "Drone fragments found near the border", text, DRONE, country="Moldova"),
             StreamItem("ro", T0 + timedelta(days=3), "Drone fragments found near the border", text, DRONE,
                        country="Romania")]
    first, second = _assign(items)
    assert second != first
    assert _assign(items, country_gate_hours=0.0)[1] == first  # the gate is what keeps them apart


def test_the_same_nights_intruders_over_a_neighbouring_state_join_the_incident() -> None:
    text = "A Russian drone crossed the border during the night of strikes and flew on over the neighbouring state."
    items = [StreamItem("ro", T0, "Drone crosses the border at night", text, DRONE, country="Romania"),
             StreamItem("md", T0 + timedelta(hours=14), "Drone crosses the border at night", text, DRONE,
                        country="Moldova")]
    first, second = _assign(items)
    assert second == first


def test_a_report_in_another_language_of_the_same_state_and_night_joins_on_meaning() -> None:
    """A Swedish first report, an English story about something else, then an English report of the Swedish one:
    no shared words, so within the same state and night the dense evidence decides alone."""
    close = np.array([0.9, np.sqrt(1 - 0.81), 0.0, 0.0], dtype=np.float32)  # cosine 0.9 with DRONE
    other = np.array([0.0, 0.0, 1.0, 0.0], dtype=np.float32)
    english = "Air traffic was stopped during the evening after drone sightings near the runway."
    items = [StreamItem("sv", T0, "Drönare siktade vid flygplatsen", "All flygtrafik stoppades under kvällen.",
                        DRONE, lang="sv", country="Sweden"),
             StreamItem("other", T0 + timedelta(minutes=30), "Evening traffic stopped by a strike at the port",
                        "Air traffic and ferries were stopped during the evening by a strike.", other, lang="en",
                        country="Greece"),
             StreamItem("en", T0 + timedelta(hours=1), "Flights halted after drone sightings", english, close,
                        lang="en", country="Sweden")]
    first, _, third = _assign(items)
    assert third == first
    apart = [StreamItem(i.key, i.published_at, i.title, i.text, i.vector, lang=i.lang) for i in items]
    assert _assign(apart)[2] != first  # without the states, the English words decide: a new incident


def test_a_report_dating_its_event_two_days_later_opens_its_own_incident() -> None:
    """Drones over one base on Wednesday night, over another on Friday night: one state, the same words, the
    same vector; only the day each lead states tells them apart. A follow-up dating the first night joins it."""
    text = "Drones were seen over the air base for several hours, police said, and flights were diverted."
    wednesday, friday = T0.date(), T0.date() + timedelta(days=2)
    items = [StreamItem("wed", T0, "Drones seen over air base", text, DRONE, country="Denmark",
                        event_day=wednesday),
             StreamItem("fri", T0 + timedelta(days=2), "Drones seen over air base", text, DRONE, country="Denmark",
                        event_day=friday),
             StreamItem("later", T0 + timedelta(days=3), "Drones seen over air base", text, DRONE, country="Denmark",
                        event_day=wednesday)]
    first, second, follow_up = _assign(items)
    assert second != first and follow_up == first
    assert _assign(items, new_day_gap_days=0)[1] == first  # the stated day is what keeps them apart


def test_a_report_naming_no_day_is_judged_on_its_words_alone() -> None:
    text = "Drones were seen over the air base for several hours, police said, and flights were diverted."
    items = [StreamItem("wed", T0, "Drones seen over air base", text, DRONE, country="Denmark", event_day=T0.date()),
             StreamItem("later", T0 + timedelta(days=2), "Drones seen over air base", text, DRONE, country="Denmark")]
    first, later = _assign(items)
    assert later == first


def test_a_weekday_cannot_name_a_day_older_than_a_week_so_older_incidents_are_not_kept_out() -> None:
    """Ten days on, "on Friday evening" names a day of the article's own week, not the incident's: the stated day
    says nothing about an older incident, and the words decide."""
    text = "Drones were seen over the air base for several hours, police said, and flights were diverted."
    items = [StreamItem("old", T0, "Drones seen over air base", text, DRONE, country="Denmark", event_day=T0.date()),
             StreamItem("later", T0 + timedelta(days=10), "Drones seen over air base", text, DRONE,
                        country="Denmark", event_day=T0.date() + timedelta(days=9))]
    first, later = _assign(items, decay_floor=1.0, lexical_decay_floor=1.0)
    assert later == first


def test_a_later_stage_dates_the_stage_not_the_event() -> None:
    """An arrest reported three days on, "early on Friday", still belongs to the incident it follows."""
    items = [StreamItem("a", T0, FIRST, FIRST_TEXT, DRONE, country="Poland", event_day=T0.date()),
             StreamItem("b", T0 + timedelta(days=3), "Man charged over Wyryki drone debris", EXAMINED, DRONE,
                        country="Poland", event_day=T0.date() + timedelta(days=3))]
    later_stage = load_topic(SHIPPED_TOPIC).later_stage
    first, later = [r.incident_id for r in assign_stream(build_index(SETTINGS, DocFreq(), []), items, later_stage)]
    assert later == first

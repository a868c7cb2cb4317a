"""Behaviour of entity extraction on short texts written for these tests, with the shipped topic file."""

from __future__ import annotations

import pytest

from pipeline.defaults import SHIPPED_TOPIC
from pipeline.entities import extract_entities
from pipeline.topics import Topic, load_topic

TOPIC_FILE = SHIPPED_TOPIC


@pytest.fixture(scope="module")
def topic() -> Topic:
    return load_topic(TOPIC_FILE)


def test_violated_state_is_not_the_intruder_origin(topic: Topic) -> None:
    found = extract_entities(
        topic,
        "Russian drones cross into Lithuania overnight",
        "Several Russian drones entered Lithuanian airspace from Belarus, the army in Vilnius said. "
        "Russia denied any involvement and Moscow called the claims a provocation.",
    )
    assert found.country == "Lithuania"
    assert found.intruder == "drones"


def test_origin_state_is_returned_when_no_other_state_is_named(topic: Topic) -> None:
    found = extract_entities(topic, "Russian jets spotted", "Two Russian MiG-31 fighters were seen.")
    assert found.country == "Russia"
    assert found.intruder == "fighter jets"


def test_defending_jets_do_not_make_jets_the_intruder(topic: Topic) -> None:
    found = extract_entities(
        topic,
        "Latvia scrambles jets as Russian drones enter its airspace",
        "Latvian and allied fighter jets were scrambled after two Russian drones crossed the border. "
        "One drone was shot down near Riga.",
    )
    assert found.country == "Latvia"
    assert found.intruder == "drones"


def test_airport_closure_report_names_the_state_of_the_airport(topic: Topic) -> None:
    found = extract_entities(
        topic,
        "Drones spotted near Amsterdam airport; flights suspended",
        "Air traffic was halted for two hours after several drones were seen near the runways, "
        "the airport said. Police are investigating.",
    )
    assert found.country == "Netherlands"
    assert found.intruder == "drones"


def test_state_named_as_the_violated_airspace_beats_allies_in_the_title(topic: Topic) -> None:
    found = extract_entities(
        topic,
        "Swedish Gripens join Finnish response",
        "Swedish fighters helped escort a Russian helicopter that flew into Finland's airspace near the "
        "border for four minutes. Finnish officials protested.",
    )
    assert found.country == "Finland"
    assert found.intruder == "helicopter"


def test_non_english_report_is_understood(topic: Topic) -> None:
    found = extract_entities(
        topic,
        "Rosyjskie drony naruszyły polską przestrzeń powietrzną",
        "W nocy kilka dronów wleciało nad Polskę. Wojsko poderwało myśliwce.",
    )
    assert found.country == "Poland"
    assert found.intruder == "drones"


@pytest.mark.parametrize(("title", "text", "state", "intruder"), [
    ("ロシア軍機が日本の領空を侵犯、空自が緊急発進",
     "防衛省によると、ロシアの軍用機が北海道沖で日本の領空を侵犯した。航空自衛隊の戦闘機が緊急発進した。",
     "Japan", "aircraft"),
    ("북한 무인기, 한국 영공 침범…군 전투기 출격",
     "합동참모본부는 북한 무인기 여러 대가 한국 영공을 침범했다고 밝혔다. 군은 전투기와 헬기를 출격시켰다.",
     "South Korea", "drones"),
    ("中国气球飞越台湾北部上空", "台湾国防部说，一个中国气球飞越台湾北部上空，约一小时后离开。", "Taiwan", "balloons"),
])
def test_an_east_asian_report_names_its_state_and_intruder_in_its_own_script(
        topic: Topic, title: str, text: str, state: str, intruder: str) -> None:
    """Chinese, Japanese and Korean reports: state names from CLDR, intruder words from the topic file, matched
    inside running text (Korean attaches particles: 영공을)."""
    found = extract_entities(topic, title, text)
    assert (found.country, found.intruder) == (state, intruder)


@pytest.mark.parametrize(("title", "state", "intruder"), [
    ("Orosz drón sértette meg Magyarország légterét", "Hungary", "drones"),
    ("Руски дрон навлезе във въздушното пространство на България", "Bulgaria", "drones"),
    ("Російський безпілотник залетів у повітряний простір Молдови", "Moldova", "drones"),
    ("Rus insansız hava aracı Türkiye hava sahasını ihlal etti", "Türkiye", "drones"),
    ("Un drone russo ha violato lo spazio aereo della Romania", "Romania", "drones"),
    ("Ruské stíhačky narušily vzdušný prostor Polska", "Poland", "fighter jets"),
])
def test_a_headline_in_another_language_of_nato_europe_names_its_state_and_intruder(
        topic: Topic, title: str, state: str, intruder: str) -> None:
    """Beyond the flank's languages: state names (with their case endings) from CLDR, intruder words from the
    topic file, so that a first report in any of these languages may open an incident."""
    found = extract_entities(topic, title, "")
    assert (found.country, found.intruder) == (state, intruder)


def test_text_without_states_or_intruders_gives_none(topic: Topic) -> None:
    found = extract_entities(topic, "Quarterly results beat forecasts", "Revenue rose by four per cent.")
    assert found.country is None
    assert found.intruder is None


def test_a_headline_naming_a_state_or_an_intruder_names_the_event(topic: Topic) -> None:
    from pipeline.entities import headline_names_event

    assert headline_names_event(topic, "Drones over Riga airport halt flights overnight")
    assert headline_names_event(topic, "Lithuania protests as Belarusian balloons cross the border")
    assert headline_names_event(topic, "Unexplained lights halt runway at regional airport")
    assert not headline_names_event(topic, "Alliance launches new mission to shore up its eastern skies")


def test_every_state_is_known_by_its_names_in_the_flank_languages(topic: Topic) -> None:
    """States, their adjectives and large cities come from CLDR and GeoNames, not from a hand-written list."""
    cases = {
        "Drony nad Polską: wojsko poderwało myśliwce": "Poland",
        "Droner over Danmark: lufthavnen lukket": "Denmark",
        "Droonid Taani lennujaama kohal": "Denmark",
        "O dronă a intrat în spațiul aerian al României": "Romania",
        "國防部：中國氣球飛越台灣北部": "Taiwan",
        "Japan scrambles jets as Chinese drone nears Okinawa": "Japan",
        "Balloons from Belarus close Vilnius airport": "Lithuania",
        "Drones over Munich airport halt flights": "Germany",
    }
    for title, state in cases.items():
        assert extract_entities(topic, title, "").country == state, title


def test_short_names_of_declining_languages_are_not_stemmed_into_other_words(topic: Topic) -> None:
    # Estonian "Rootsi" (Sweden) and the English "Polish" must not become "roots*" and "polis*" (police)
    assert extract_entities(topic, "Police find the roots of the problem", "").country is None

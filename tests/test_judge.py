"""The rules on what may open an incident (pipeline/judge.py): records in, decisions out, with the shipped topic."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from pipeline.judge import may_open, opened_incidents, stream_items
from pipeline.models import AssignmentRecord, Judgement, StoredArticle
from pipeline.settings import SHIPPED_TOPIC
from pipeline.topics import load_topic

TOPIC = load_topic(SHIPPED_TOPIC)
T0 = datetime(2025, 9, 10, 4, tzinfo=UTC)
VECTOR = np.ones(4, dtype=np.float32)


def article(key: str, title: str, status: str = "ok") -> StoredArticle:
    return StoredArticle(key, f"https://example.org/{key}", "wire", title, "text", T0, "en", status)


def judgement(key: str, report: bool = True) -> Judgement:
    return Judgement(key, True, 0.9, "report", report, "Poland" if report else None, "drones" if report else None)


def test_only_a_readable_confident_report_naming_its_intruder_and_a_state_or_intruder_may_open() -> None:
    named = "Russian drones cross into Poland near Wyryki"
    assert may_open(TOPIC, article("a", named), judgement("a"))
    assert not may_open(TOPIC, article("a", named, status="paywall"), judgement("a"))  # a title alone: join only
    assert not may_open(TOPIC, article("a", named), judgement("a", report=False))  # analysis: join only
    assert not may_open(TOPIC, article("a", "NATO launches new mission to shore up its eastern skies"), judgement("a"))
    no_intruder = Judgement("a", True, 0.9, "report", True, "Poland", None)
    assert not may_open(TOPIC, article("a", named), no_intruder)  # the text never says what intruded  # names neither


def test_stream_items_carry_the_rule_and_the_named_state() -> None:
    pending = [(article("a", "Russian drones cross into Poland"), VECTOR, judgement("a")),
               (article("b", "Russian drones cross into Poland", status="http_404"), VECTOR, judgement("b"))]
    items = stream_items(TOPIC, pending)
    assert [(i.key, i.may_open, i.country, i.lang) for i in items] == [("a", True, "Poland", "en"),
                                                                      ("b", False, "Poland", "en")]


def test_a_sure_analysis_piece_may_not_join_an_incident_a_report_may() -> None:
    analysis = Judgement("b", True, 0.9, "analysis", False, "Poland", "drones", analysis=True)
    pending = [(article("a", "Russian drones cross into Poland"), VECTOR, judgement("a")),
               (article("b", "Why drones keep crossing into Poland"), VECTOR, analysis)]
    assert [(i.may_join, i.may_open) for i in stream_items(TOPIC, pending)] == [(True, True), (False, False)]


def test_an_opened_incident_takes_its_opening_articles_title_time_and_names() -> None:
    pending = [(article("a", "Drones over Poland"), VECTOR, judgement("a")),
               (article("b", "More drones over Poland"), VECTOR, judgement("b"))]
    records = [AssignmentRecord("a", "inc-1", 0.0, None, True, {}), AssignmentRecord("b", "inc-1", 0.9, "a", False, {})]
    [incident] = opened_incidents(records, pending)
    assert (incident.incident_id, incident.title, incident.first_article_id, incident.first_seen_at,
            incident.country, incident.intruder) == ("inc-1", "Drones over Poland", "a", T0, "Poland", "drones")

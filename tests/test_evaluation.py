"""Behaviour of replay scoring: alerts, optional incidents, and one total over several corpora."""

from __future__ import annotations

from pipeline.evaluation import Decision, Label, Replay, evaluate_replay, evaluate_total


def _labels(optional: bool = False) -> list[Label]:
    return [
        Label("u/a1", "2025-09-10T04:00:00+00:00", True, "inc-a", "first_report", "en"),
        Label("u/a2", "2025-09-10T05:00:00+00:00", True, "inc-a", "follow_up", "pl"),
        Label("u/b1", "2025-09-12T04:00:00+00:00", True, "inc-b", "first_report", "en", optional=optional),
        Label("u/n1", "2025-09-12T06:00:00+00:00", False, None, "near_topic", "en"),
    ]


DECISIONS = {"u/a1": Decision(True, "x"), "u/a2": Decision(True, "x"), "u/b1": Decision(True, "y"),
             "u/n1": Decision(False, None)}


def test_an_alert_on_an_optional_incident_is_neither_a_hit_nor_a_false_alert() -> None:
    scored = evaluate_replay(_labels(), DECISIONS, ["u/a1", "u/b1"])
    assert (scored.incidents, scored.alerted_incidents, scored.false_alerts) == (2, 2, 0)
    optional = evaluate_replay(_labels(optional=True), DECISIONS, ["u/a1", "u/b1"])
    assert (optional.incidents, optional.alerted_incidents, optional.false_alerts) == (1, 1, 0)
    assert optional.optional_alerts == 1 and optional.alert_precision == 1.0
    assert "u/b1" not in {url for url in optional.non_english_assigned}


def test_a_missed_optional_incident_costs_no_recall() -> None:
    assert evaluate_replay(_labels(optional=True), DECISIONS, ["u/a1"]).alert_recall == 1.0
    assert evaluate_replay(_labels(), DECISIONS, ["u/a1"]).alert_recall == 0.5


def test_the_total_over_corpora_keeps_their_incidents_apart() -> None:
    """The same URLs and incident names in two corpora are two things: the total counts four incidents."""
    one = Replay(_labels(), DECISIONS, ["u/a1", "u/b1"])
    two = Replay(_labels(), DECISIONS, ["u/a1", "u/n1"])
    total = evaluate_total({"first": one, "second": two})
    assert (total.incidents, total.alerted_incidents, total.false_alerts) == (4, 3, 1)
    assert total.false_alerts_by_kind == {"near_topic": 1}
    assert total.alert_precision == 0.75

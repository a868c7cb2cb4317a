"""Behaviour of the assignment loop shared by the live pipeline and `newswatch cluster-file`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from pipeline.assign import StreamItem, assign_stream, build_index
from pipeline.incidents import ClusterSettings
from pipeline.lexical import DocFreq

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
    return [r.incident_id for r in assign_stream(build_index(SETTINGS, DocFreq(), []), items)]


def test_a_headline_naming_a_later_stage_joins_its_incident_months_later() -> None:
    first, later = _stream("Man charged over Wyryki drone debris", EXAMINED)
    assert later == first


def test_a_lead_sentence_naming_a_later_stage_joins_its_incident_months_later() -> None:
    first, later = _stream("Wyryki drone debris: an update", CHARGED)
    assert later == first


def test_the_same_story_naming_no_later_stage_stays_apart_months_later() -> None:
    first, later = _stream("Wyryki drone debris: an update", EXAMINED)
    assert later != first

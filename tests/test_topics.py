"""Behaviour of topic files: the shipped topic loads, and mistakes in a topic file fail with a clear message."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.defaults import SHIPPED_TOPIC
from pipeline.topics import compile_cue, cue_literal, fold_text, load_topic, parse_topic

TOPIC_FILE = SHIPPED_TOPIC


def _raw() -> dict[str, Any]:
    with TOPIC_FILE.open("rb") as handle:
        return tomllib.load(handle)


def test_shipped_topic_loads_with_labeled_examples_and_a_world_gazetteer() -> None:
    topic = load_topic(TOPIC_FILE)
    assert topic.name == "airspace_violations"
    kinds = Counter(kind for kind, _ in topic.examples.items())
    assert kinds["report"] >= 10 and kinds["near_topic"] >= 10 and kinds["analysis"] >= 3 and kinds["unrelated"] >= 5
    states = {s.name for s in topic.entities.states}
    assert {"Poland", "Estonia", "Denmark", "Germany", "Romania", "Russia", "Belarus", "Taiwan", "Japan"} <= states
    assert len(states) > 190  # every state, from the datasets
    assert topic.later_stage and any(c.text == "verdict*" for c in topic.later_stage)
    assert {"Russia", "Belarus", "China"} <= set(topic.entities.intruder_origins)
    assert {i.name for i in topic.entities.intruders} >= {"drones", "fighter jets"}


def test_typo_in_topic_key_names_the_key() -> None:
    data = _raw()
    data["examples"]["near_topc"] = data["examples"].pop("near_topic")
    with pytest.raises(ValueError, match=r"examples\.near_topc") as caught:
        parse_topic(data, "topics/typo.toml")
    assert "topics/typo.toml" in str(caught.value)


def test_a_topic_without_negative_examples_is_rejected() -> None:
    data = _raw()
    data["examples"].pop("near_topic")
    data["examples"].pop("unrelated")
    with pytest.raises(ValueError, match="near_topic or unrelated"):
        parse_topic(data, "x.toml")


def test_typo_in_nested_gazetteer_entry_names_the_key() -> None:
    data = _raw()
    data["entities"]["states"][0]["cue"] = data["entities"]["states"][0].pop("cues")
    with pytest.raises(ValueError, match=r"entities\.states\.0\.cue"):
        parse_topic(data, "x.toml")


def test_origin_state_missing_from_gazetteer_is_rejected() -> None:
    data = _raw()
    data["entities"]["intruder_origins"] = ["Atlantis"]
    with pytest.raises(ValueError, match="Atlantis"):
        parse_topic(data, "x.toml")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\ndescription = \n', encoding="utf-8")
    with pytest.raises(ValueError, match="broken.toml"):
        load_topic(broken)


def test_cues_match_whole_words_across_accents_and_endings() -> None:
    assert compile_cue("przestrze* powietrzn*").search(fold_text("naruszenie Przestrzeni Powietrznej"))
    assert compile_cue("Rzeszów").search(fold_text("flights from Rzeszow resumed"))
    assert compile_cue("MiG-*").search(fold_text("three MiG-31s"))
    assert not compile_cue("MiG-*").search(fold_text("migration policy"))
    assert not compile_cue("fog").search(fold_text("fogging machine"))


def test_cue_precheck_never_changes_what_matches() -> None:
    """Every cue of the shipped topic finds exactly what its regex finds, with or without the substring pre-check."""
    topic = load_topic(SHIPPED_TOPIC)
    texts = [fold_text(t) for t in (
        "Russian drones violated Polish airspace overnight; F-35s scrambled over Rzeszów",
        "Drony naruszyły polską przestrzeń powietrzną", "Unexplained lights halt runway at the airport",
        "A MiG-31 entered Estonian air space for 12 minutes", "Nothing to see here", "")]
    cues = [*topic.later_stage, *(c for e in (*topic.entities.states, *topic.entities.intruders) for c in e.cues)]
    assert all(c.literal for c in cues)
    for cue in cues[:3000]:
        for text in texts:
            assert [m.span() for m in cue.finditer(text)] == [m.span() for m in cue.pattern.finditer(text)], cue.text
            assert bool(cue.search(text)) == bool(cue.pattern.search(text)), cue.text
    assert cue_literal("air* space") == "space" and cue_literal("* drone*") == "drone" and cue_literal("*") == ""


def test_folding_ascii_text_is_lowercasing() -> None:
    assert fold_text("Drones Over AALBORG") == "drones over aalborg"
    assert fold_text("Łódź ÆRØ") == "lodz aero"

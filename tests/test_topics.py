"""Behaviour of topic files: the shipped topic loads, and mistakes in a topic file fail with a clear message."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline.topics import compile_cue, cue_literal, fold_text, load_topic, parse_topic

TOPIC_FILE = Path(__file__).resolve().parents[1] / "config" / "topics" / "airspace_violations.toml"


def _raw() -> dict[str, Any]:
    with TOPIC_FILE.open("rb") as handle:
        return tomllib.load(handle)


def test_shipped_topic_loads_with_examples_cues_and_gazetteer() -> None:
    topic = load_topic(TOPIC_FILE)
    assert topic.name == "airspace_violations"
    assert len(topic.examples.positive) >= 10 and len(topic.examples.negative) >= 10
    states = {s.name for s in topic.entities.states}
    assert {"Poland", "Estonia", "Denmark", "Germany", "Romania", "Russia", "Belarus"} <= states
    assert set(topic.entities.intruder_origins) == {"Russia", "Belarus"}
    assert {i.name for i in topic.entities.intruders} >= {"drones", "fighter jets"}


def test_typo_in_topic_key_names_the_key() -> None:
    data = _raw()
    data["cues"]["exclde"] = data["cues"].pop("exclude")
    with pytest.raises(ValueError, match=r"cues\.exclde") as caught:
        parse_topic(data, "topics/typo.toml")
    assert "topics/typo.toml" in str(caught.value)


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
    topic = load_topic(Path(__file__).resolve().parent.parent / "config" / "topics" / "airspace_violations.toml")
    texts = [fold_text(t) for t in (
        "Russian drones violated Polish airspace overnight; F-35s scrambled over Rzeszów",
        "Drony naruszyły polską przestrzeń powietrzną", "Unexplained lights halt runway at the airport",
        "A MiG-31 entered Estonian air space for 12 minutes", "Nothing to see here", "")]
    cues = [*topic.cues.include, *topic.cues.exclude,
            *(c for e in (*topic.entities.states, *topic.entities.intruders) for c in e.cues)]
    assert all(c.literal for c in cues)
    for cue in cues:
        for text in texts:
            assert [m.span() for m in cue.finditer(text)] == [m.span() for m in cue.pattern.finditer(text)], cue.text
            assert bool(cue.search(text)) == bool(cue.pattern.search(text)), cue.text
    assert cue_literal("air* space") == "space" and cue_literal("* drone*") == "drone" and cue_literal("*") == ""


def test_folding_ascii_text_is_lowercasing() -> None:
    assert fold_text("Drones Over AALBORG") == "drones over aalborg"
    assert fold_text("Łódź ÆRØ") == "lodz aero"

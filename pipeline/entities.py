"""Entity extraction: the violated state and the intruder kind of an article, from the topic's gazetteer.

Pure: counts gazetteer cue mentions with title/lead weighting; no network, no database, no models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.lexical import article_body
from pipeline.topics import GazetteerEntry, Topic, fold_text

# Weight of one mention by where it is: the title and lead say what the story is about.
TITLE_WEIGHT = 4.0
LEAD_WEIGHT = 2.0
BODY_WEIGHT = 1.0
# Words of body text counted as the lead.
LEAD_WORDS = 60
# An intruder mention right after an origin-state mention ("Russian drones") counts this many times more:
# it names the intruder rather than the defenders' aircraft ("Poland scrambles jets").
ORIGIN_BONUS = 2.0
# How many characters before an intruder mention are searched for an origin-state mention.
ORIGIN_WINDOW_CHARS = 40
# How many characters around a state mention are searched for violated-state context (topic file cues).
CONTEXT_CHARS = 30


@dataclass(frozen=True)
class Entities:
    """The violated state (canonical English name) and the intruder kind; None when nothing is named."""

    country: str | None
    intruder: str | None


def _segments(title: str, text: str) -> list[tuple[str, float]]:
    words = article_body(text).split()
    return [
        (fold_text(title), TITLE_WEIGHT),
        (fold_text(" ".join(words[:LEAD_WORDS])), LEAD_WEIGHT),
        (fold_text(" ".join(words[LEAD_WORDS:])), BODY_WEIGHT),
    ]


def _mention_spans(entry: GazetteerEntry, folded: str) -> list[tuple[int, int]]:
    # Several cues of one entry can match at the same place ("drone", "dron*"): keep the longest, once.
    ends: dict[int, int] = {}
    for cue in entry.cues:
        for match in cue.finditer(folded):
            ends[match.start()] = max(ends.get(match.start(), 0), match.end())
    return sorted(ends.items())


def _best(scores: dict[str, float], names: Sequence[str]) -> str | None:
    candidates = [(score, name) for name, score in scores.items() if name in names and score > 0]
    if not candidates:
        return None
    # Highest score; ties go to the entry listed first in the topic file.
    best_score = max(score for score, _ in candidates)
    return next(name for name in names if scores.get(name, 0.0) == best_score)


def extract_entities(topic: Topic, title: str, text: str) -> Entities:
    """Find the violated state and the intruder kind named by an article.

    The violated state is the most-mentioned state (title and lead weigh more) that is neither an intruder
    origin nor the war theatre; those are returned only when no other state is named. The intruder is the
    most-mentioned intruder kind, mentions right after an origin state ("Russian drones") counting more.
    """
    gazetteer = topic.entities
    origins = [e for e in gazetteer.states if e.name in gazetteer.intruder_origins]
    state_scores: dict[str, float] = {}
    intruder_scores: dict[str, float] = {}
    for folded, weight in _segments(title, text):
        if not folded:
            continue
        origin_ends = sorted(
            match.end() for entry in origins for cue in entry.cues for match in cue.finditer(folded)
        )
        for entry in gazetteer.states:
            total = 0.0
            for start, end in _mention_spans(entry, folded):
                in_context = bool(
                    gazetteer.violated_before.search(folded, max(0, start - CONTEXT_CHARS), start)
                    or gazetteer.violated_after.match(folded[end : end + CONTEXT_CHARS])
                )
                total += gazetteer.violated_context_weight if in_context else 1.0
            state_scores[entry.name] = state_scores.get(entry.name, 0.0) + weight * total
        for entry in gazetteer.intruders:
            total = 0.0
            for start, _ in _mention_spans(entry, folded):
                near_origin = any(0 <= start - end <= ORIGIN_WINDOW_CHARS for end in origin_ends)
                total += ORIGIN_BONUS if near_origin else 1.0
            intruder_scores[entry.name] = intruder_scores.get(entry.name, 0.0) + weight * total

    all_states = [e.name for e in gazetteer.states]
    targets = [n for n in all_states if n not in gazetteer.intruder_origins and n not in gazetteer.theatre]
    country = (
        _best(state_scores, targets)
        or _best(state_scores, list(gazetteer.theatre))
        or _best(state_scores, list(gazetteer.intruder_origins))
    )
    intruder = _best(intruder_scores, [e.name for e in gazetteer.intruders])
    return Entities(country=country, intruder=intruder)


def headline_names_event(topic: Topic, title: str) -> bool:
    """Whether a headline names a state (or its places) or an intruder kind from the gazetteer. A first report
    does ("Drones over Kastrup halt flights", "Estonia says MiG-31s violated its airspace"); a response or
    policy piece often does not ("NATO launches new mission to shore up its eastern skies"), and such an
    article may join an incident but should not open one."""
    folded = fold_text(title)
    gazetteer = topic.entities
    return any(_mention_spans(entry, folded) for entry in (*gazetteer.states, *gazetteer.intruders))

"""Entity extraction: the violated state and the intruder kind of an article, from the topic's gazetteer.

Pure: counts gazetteer cue mentions with title/lead weighting; no network, no database, no models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.lexical import article_body
from pipeline.topics import CJK_CHAR, Cue, GazetteerEntry, Topic, _is_cjk, fold_text

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
    return _spans(entry.cues, folded)


def _spans(cues: Sequence[Cue], folded: str) -> list[tuple[int, int]]:
    # Several cues of one entry can match at the same place ("drone", "dron*"): keep the longest, once.
    ends: dict[int, int] = {}
    for cue in set(cues):
        for match in cue.finditer(folded):
            ends[match.start()] = max(ends.get(match.start(), 0), match.end())
    return sorted(ends.items())


_WORD = re.compile(r"\w+")


_CueList = list[tuple[int, Cue]]
_INDEXES: dict[int, tuple[tuple[GazetteerEntry, ...], dict[str, _CueList], _CueList, _CueList]] = {}


def _cue_index(entries: tuple[GazetteerEntry, ...]) -> tuple[dict[str, _CueList], _CueList, _CueList]:
    """Cues (with their entry's position) by the first three letters of their first word (a cue's match starts a
    word, so a text can only hold it if one of its words starts so), the cues with no such key (short or
    wildcard-first cues: checked always) and the Chinese, Japanese and Korean cues (they match inside running
    text: checked in a text in those scripts). Built once per gazetteer, kept by identity (hashing thousands of
    cues costs more than building this)."""
    kept = _INDEXES.get(id(entries))
    if kept is not None and kept[0] is entries:
        return kept[1], kept[2], kept[3]
    by_prefix: dict[str, _CueList] = {}
    always: _CueList = []
    cjk: _CueList = []
    for i, entry in enumerate(entries):
        for cue in entry.cues:
            words = cue.text.split()
            key = fold_text(words[0].rstrip("*"))[:3] if words else ""
            if any(_is_cjk(ch) for ch in key):
                cjk.append((i, cue))
            elif len(key) < 3 or not key.isalpha():
                always.append((i, cue))
            else:
                by_prefix.setdefault(key, []).append((i, cue))
    if len(_INDEXES) > 16:
        _INDEXES.clear()
    _INDEXES[id(entries)] = (entries, by_prefix, always, cjk)
    return by_prefix, always, cjk


def _mentions(entries: tuple[GazetteerEntry, ...], folded: str) -> list[tuple[GazetteerEntry, list[tuple[int, int]]]]:
    """Each entry mentioned in `folded`, in entry order, with its mention spans (as _mention_spans)."""
    by_prefix, always, cjk = _cue_index(entries)
    candidates: dict[int, list[Cue]] = {}
    for i, cue in always + cjk if CJK_CHAR.search(folded) else always:  # a CJK cue needs a CJK text
        candidates.setdefault(i, []).append(cue)
    for word in set(_WORD.findall(folded)):
        for i, cue in by_prefix.get(word[:3], ()):
            candidates.setdefault(i, []).append(cue)
    out = []
    for i in sorted(candidates):
        spans = _spans(candidates[i], folded)
        if spans:
            out.append((entries[i], spans))
    return out


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
        for entry, spans in _mentions(gazetteer.states, folded):
            total = 0.0
            for start, end in spans:
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
    return bool(_mentions(gazetteer.states, folded)) or any(_mention_spans(e, folded) for e in gazetteer.intruders)

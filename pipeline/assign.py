"""Incident assignment over a batch of articles in publication order: the one loop shared by the live pipeline
and `newswatch cluster-file`, so both make the same decisions.

Pure: the caller loads members and document frequencies from the warehouse and stores what this returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from pipeline.incidents import ClusterSettings, IncidentIndex, Member
from pipeline.lexical import DocFreq, extract_terms, is_follow_up
from pipeline.models import AssignmentRecord, stable_id
from pipeline.topics import Cue


@dataclass(frozen=True)
class StreamItem:
    key: str
    published_at: datetime
    title: str
    text: str
    vector: np.ndarray
    may_open: bool = True  # False: may join an incident, never open one (a title alone, a doubtful report)
    lang: str | None = None  # the article's language: lexical evidence compares articles of one language only
    country: str | None = None  # the violated state it names (judge step): another state's incident is another
    event_day: date | None = None  # the day its lead dates the event to (judge step): a later night is another
    may_join: bool = True  # False: joins no incident (a sure analysis piece), but counts in document frequencies


def incident_id_for(opening_key: str) -> str:
    """Stable id of the incident an article opens (a re-run after a crash opens the same id)."""
    return "inc-" + stable_id("incident", opening_key)[:12]


def members_since(items: Sequence[StreamItem], settings: ClusterSettings) -> datetime | None:
    """The oldest publication time whose members can still be candidates for this batch."""
    if not items:
        return None
    return min(i.published_at for i in items) - timedelta(days=settings.window_days)


def build_index(settings: ClusterSettings, doc_freq: DocFreq, members: Iterable[Member],
                index: IncidentIndex | None = None) -> IncidentIndex:
    """An index of already-assigned articles whose terms are already counted in `doc_freq`, restored in bulk.

    Pass the index kept from an earlier cycle as `index` to extend it instead: members it already holds are
    skipped (their frozen weights stay), the others are added, and it takes `doc_freq` as its document
    frequencies. The dense index of the pruned path is built here when the index is large enough.
    """
    if index is None:
        index = IncidentIndex(settings, doc_freq)
    elif index.settings != settings:
        raise ValueError("the kept index was built with other cluster settings")
    index.doc_freq = doc_freq
    index.extend(members)
    index.prepare()
    return index


def assign_stream(index: IncidentIndex, items: Sequence[StreamItem], later_stage: Sequence[Cue] = ()
                  ) -> list[AssignmentRecord]:
    """Assign each item (sorted here by publication time) to a known incident or a new one; the index and its
    document frequencies are updated as it goes, so later items see earlier ones. `later_stage`: the topic's cues
    for a later stage of a story (Topic.later_stage; see lexical.is_follow_up)."""
    out: list[AssignmentRecord] = []
    lead = index.settings.term_lead_words
    for item in sorted(items, key=lambda i: (i.published_at, i.key)):
        terms = extract_terms(item.title, item.text, lead_words=lead)
        if not item.may_join:
            index.doc_freq.add(terms)
            out.append(AssignmentRecord(item.key, None, 0.0, None, False, terms))
            continue
        follow_up = is_follow_up(item.title, item.text, later_stage, lead_words=index.settings.follow_up_lead_words)
        decision = index.assign(item.vector, terms, item.published_at, follow_up=follow_up, lang=item.lang,
                                country=item.country, event_day=item.event_day)
        opened = decision.incident_id is None and item.may_open
        incident_id = incident_id_for(item.key) if opened else decision.incident_id
        if incident_id is None:
            index.doc_freq.add(terms)  # still part of the stream's document frequencies
        else:
            index.add(Member(item.key, incident_id, item.published_at, item.vector, terms, item.lang,
                             item.country, item.event_day))
        out.append(AssignmentRecord(item.key, incident_id, decision.score, decision.nearest_key, opened, terms))
    return out

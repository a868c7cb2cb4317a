"""The judge step and the rules on what may open or join an incident: records in, decisions out.

Every relevant article may join an incident, except one the classifier is sure is analysis (an overview, explainer
or opinion piece about the topic: it reports no single incident). Only a readable page (a title and summary are too
little to tell a new incident from a follow-up) that the classifier calls a confident report, whose text names what
intruded and whose headline names a state or an intruder (responses and policy pieces often name neither), may open
one. The verdicts are pipeline.relevance's, the names pipeline.entities', the assignment pipeline.assign's.

Pure: no network, no database; the caller reads the records and stores the decisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.assign import StreamItem
from pipeline.entities import headline_names_event
from pipeline.models import AssignmentRecord, IncidentRecord, Judgement, StoredArticle
from pipeline.relevance import ReportClassifier, judge_article
from pipeline.topics import Topic


def judge_articles(classifier: ReportClassifier, topic: Topic,
                   articles: Sequence[tuple[StoredArticle, np.ndarray]]) -> list[Judgement]:
    """The judgement of each embedded article (with its vector), in order."""
    return [judge_article(classifier, topic, a.article_id, a.title, a.text, vector, a.published_at, a.lang)
            for a, vector in articles]


def may_open(topic: Topic, article: StoredArticle, judgement: Judgement) -> bool:
    """Whether a relevant article may open an incident (see the module docstring), not only join one."""
    return (article.status == "ok" and judgement.report and judgement.intruder is not None
            and headline_names_event(topic, article.title))


def stream_items(topic: Topic, pending: Sequence[tuple[StoredArticle, np.ndarray, Judgement]]) -> list[StreamItem]:
    """The relevant articles waiting for an incident (with their vector and judgement) as the assignment loop
    takes them: each with whether it may open an incident or join one, its language, the state it names and the
    day its lead dates the event to."""
    return [StreamItem(a.article_id, a.published_at, a.title, a.text, vector, may_open=may_open(topic, a, j),
                       lang=a.lang, country=j.country, event_day=j.event_day, may_join=not j.analysis)
            for a, vector, j in pending]


def opened_incidents(records: Sequence[AssignmentRecord],
                     pending: Sequence[tuple[StoredArticle, np.ndarray, Judgement]]) -> list[IncidentRecord]:
    """The incidents the assignment opened, each titled, dated and placed by the article that opened it."""
    by_id = {a.article_id: (a, j) for a, _, j in pending}
    incidents = []
    for r in records:
        if r.opened and r.incident_id is not None:  # opened: it has the id of its own incident
            article, judgement = by_id[r.article_id]
            incidents.append(IncidentRecord(r.incident_id, article.title, article.article_id, article.published_at,
                                            judgement.country, judgement.intruder))
    return incidents

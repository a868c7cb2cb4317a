"""Scoring a replay of a labeled corpus: alerts (recall, precision, duplicates, false alerts by kind, rank of the
alerted article), relevance P/R/F1, and incident assignment (B-cubed, pairwise) over relevant articles.

Incidents the corpus marks optional (a case its labels cannot settle) count neither way: an alert on one is neither
a hit nor a false alert, and their articles are left out of the relevance and clustering scores.

Pure: the caller supplies labels and what the pipeline decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipeline.scoring import PRF, score_clusters


@dataclass(frozen=True)
class Label:
    url: str
    published: str  # ISO 8601 (sortable after parsing by the caller)
    relevant: bool
    incident: str | None
    kind: str
    lang: str
    optional: bool = False
    """The article's incident is marked optional in the corpus: left out of every score."""


@dataclass(frozen=True)
class Decision:
    relevant: bool | None  # None: never judged (not fetched, not embedded)
    incident_id: str | None


@dataclass(frozen=True)
class AlertOutcome:
    url: str
    gold_incident: str | None
    kind: str
    verdict: str  # 'first' | 'duplicate' | 'false' | 'optional'
    rank: int | None  # 1-based position of the alerted article within its gold incident (publication order)


@dataclass(frozen=True)
class EvalReport:
    incidents: int
    alerted_incidents: int
    alert_recall: float
    alert_precision: float
    duplicate_alerts: int
    false_alerts: int
    false_alerts_by_kind: dict[str, int]
    alert_ranks: dict[str, int]
    relevance: PRF
    bcubed: PRF
    pairwise: PRF
    non_english_assigned: dict[str, bool]
    alerts: list[AlertOutcome] = field(default_factory=list)
    optional_alerts: int = 0
    """Alerts on incidents the corpus marks optional (neither hits nor false alerts)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        """The inverse of as_dict (what `newswatch eval --json` prints per corpus)."""
        fields = dict(data)
        for key in ("relevance", "bcubed", "pairwise"):
            fields[key] = PRF(**fields[key])
        fields["alerts"] = [AlertOutcome(**a) for a in fields.get("alerts", [])]
        return cls(**fields)


def _prf(tp: int, fp: int, fn: int) -> PRF:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return PRF(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def evaluate_replay(labels: Sequence[Label], decisions: Mapping[str, Decision], alerted_urls: Sequence[str]) -> EvalReport:
    """Score one replay. `labels` in publication order; `alerted_urls` in the order alerts were raised."""
    by_url = {l.url: l for l in labels}
    labels = [l for l in labels if not l.optional]
    incident_articles: dict[str, list[str]] = {}
    for l in labels:
        if l.incident:
            incident_articles.setdefault(l.incident, []).append(l.url)
    outcomes: list[AlertOutcome] = []
    alerted: set[str] = set()
    for url in alerted_urls:
        label = by_url.get(url)
        gold = label.incident if label else None
        kind = label.kind if label else "unlabeled"
        if label is not None and label.optional:
            outcomes.append(AlertOutcome(url, gold, kind, "optional", None))
            continue
        if gold is None:
            outcomes.append(AlertOutcome(url, None, kind, "false", None))
            continue
        rank = incident_articles[gold].index(url) + 1
        outcomes.append(AlertOutcome(url, gold, kind, "duplicate" if gold in alerted else "first", rank))
        alerted.add(gold)
    firsts = sum(o.verdict == "first" for o in outcomes)
    scored = sum(o.verdict != "optional" for o in outcomes)
    false_kinds = Counter(o.kind for o in outcomes if o.verdict == "false")

    tp = sum(1 for l in labels if l.relevant and decisions.get(l.url, Decision(None, None)).relevant)
    fp = sum(1 for l in labels if not l.relevant and decisions.get(l.url, Decision(None, None)).relevant)
    fn = sum(1 for l in labels if l.relevant and not decisions.get(l.url, Decision(None, None)).relevant)

    gold: dict[str, str] = {}
    pred: dict[str, str] = {}
    for l in labels:
        if not l.relevant:
            continue
        gold[l.url] = l.incident or f"single:{l.url}"
        d = decisions.get(l.url)
        pred[l.url] = d.incident_id if d and d.incident_id else f"single:{l.url}"
    clusters = score_clusters(gold, pred)

    non_english = {}
    for l in labels:
        if l.lang != "en" and l.incident:
            d = decisions.get(l.url)
            mates = {pred[u] for u in incident_articles[l.incident] if u != l.url and u in pred}
            non_english[l.url] = bool(d and d.incident_id and d.incident_id in mates)
    return EvalReport(
        incidents=len(incident_articles), alerted_incidents=len(alerted),
        alert_recall=len(alerted) / len(incident_articles) if incident_articles else 1.0,
        alert_precision=firsts / scored if scored else 1.0,
        duplicate_alerts=sum(o.verdict == "duplicate" for o in outcomes),
        false_alerts=sum(o.verdict == "false" for o in outcomes),
        false_alerts_by_kind=dict(false_kinds),
        alert_ranks={o.gold_incident: o.rank for o in outcomes if o.verdict == "first" and o.gold_incident and o.rank},
        relevance=_prf(tp, fp, fn), bcubed=clusters.bcubed, pairwise=clusters.pairwise,
        non_english_assigned=non_english, alerts=outcomes,
        optional_alerts=sum(o.verdict == "optional" for o in outcomes),
    )


@dataclass(frozen=True)
class Replay:
    """What one corpus replay produced, for `evaluate_replay`: labels, decisions by URL, alerted URLs in order."""

    labels: Sequence[Label]
    decisions: Mapping[str, Decision]
    alerted_urls: Sequence[str]


def evaluate_total(replays: Mapping[str, Replay]) -> EvalReport:
    """One score over several corpora, as if they were one stream: URLs and incidents are prefixed with the
    corpus name, so nothing of one corpus can match another's."""
    labels: list[Label] = []
    decisions: dict[str, Decision] = {}
    alerted: list[str] = []
    for name, run in replays.items():
        labels += [replace(l, url=f"{name}|{l.url}", incident=l.incident and f"{name}|{l.incident}")
                   for l in run.labels]
        decisions.update({f"{name}|{u}": replace(d, incident_id=d.incident_id and f"{name}|{d.incident_id}")
                          for u, d in run.decisions.items()})
        alerted += [f"{name}|{u}" for u in run.alerted_urls]
    return evaluate_replay(labels, decisions, alerted)

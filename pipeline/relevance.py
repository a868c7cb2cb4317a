"""Relevance: is an article a report of one incident of the watch topic, about the topic without reporting one
incident (analysis, opinion, overview), or neither (near-topic, unrelated)? Learned from labeled examples.

A multinomial logistic regression over the article's embedding (standardised), trained on labeled articles
(`newswatch topic train`: corpora in the dev-corpus layout plus the topic file's own examples) and stored as JSON
beside the topic file. Pure numpy: no network, no database, no model loading.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.entities import extract_entities
from pipeline.eventday import stated_day
from pipeline.models import Judgement
from pipeline.topics import Topic

CLASSES = ("report", "analysis", "other")
"""What the classifier tells apart, in the order of its outputs."""

KIND_CLASS = {
    "report": "report", "first_report": "report", "follow_up": "report", "syndicated_copy": "report",
    "analysis": "analysis",
    "near_topic": "other", "unrelated": "other",
}
"""Label kinds (labels.jsonl `kind`, the topic file's example groups) and the class each one trains."""

FORMAT = 1

OPEN_THRESHOLD = 0.8
"""Default report probability from which an article may open an incident (and alert)."""
ANALYSIS_THRESHOLD = 0.9
"""Default analysis probability from which a relevant article joins no incident: the lowest that cost no held-out
corpus anything (benchmarks/QUALITY.md)."""


@dataclass(frozen=True)
class Verdict:
    """The classifier's decision for one article: relevant (report or analysis), report (a confident report of one
    incident: may open one and alert) and analysis (a confident analysis, overview or opinion piece: about the
    topic, reporting no single incident, so it joins none), with the class probabilities behind it."""

    relevant: bool
    report: bool
    probabilities: tuple[float, float, float]
    analysis: bool = False

    @property
    def reason(self) -> str:
        p = self.probabilities
        return f"report {p[0]:.2f}, analysis {p[1]:.2f}, other {p[2]:.2f}"


@dataclass(frozen=True)
class ReportClassifier:
    """Standardisation (`mean`, `scale`) and the linear model (`weights` classes x dim, `bias`) over the vectors
    of `model`. `open_threshold`: the report probability from which an article may open an incident (and alert);
    `analysis_threshold`: the analysis probability from which a relevant article joins no incident.
    `trained_on` says what it learned from (corpora and example counts)."""

    model: str
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    trained_on: dict[str, Any]
    open_threshold: float = OPEN_THRESHOLD
    analysis_threshold: float = ANALYSIS_THRESHOLD

    def probabilities(self, vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities (rows sum to 1) of each row of `vectors`."""
        x = (np.atleast_2d(np.asarray(vectors, dtype=np.float64)) - self.mean) / self.scale
        return _softmax(x @ self.weights.T + self.bias)

    def judge(self, vector: npt.ArrayLike) -> Verdict:
        """Relevant when report + analysis outweigh other; a report when, besides, the report probability reaches
        open_threshold (a desk forgives a slow alert, not a wrong one: a doubtful report may join an incident,
        and the next, clearer report of a new incident opens it); analysis when the analysis probability reaches
        analysis_threshold (only a sure one is kept out of incidents: many follow-ups read partly as analysis)."""
        p = self.probabilities(vector)[0]
        relevant = p[0] + p[1] > p[2]
        return Verdict(bool(relevant), bool(relevant and p[0] >= self.open_threshold),
                       (float(p[0]), float(p[1]), float(p[2])), bool(relevant and p[1] >= self.analysis_threshold))

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "model": self.model, "classes": list(CLASSES), "trained_on": self.trained_on,
            "open_threshold": self.open_threshold, "analysis_threshold": self.analysis_threshold,
            "mean": _rounded(self.mean), "scale": _rounded(self.scale),
            "weights": [_rounded(row) for row in self.weights], "bias": _rounded(self.bias),
        }, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str) -> ReportClassifier:
        """Parse a stored classifier; raises ValueError naming `source` when it is not one."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or tuple(data.get("classes", ())) != CLASSES:
                raise ValueError(f"format {data.get('format')!r} / classes {data.get('classes')!r} not understood")
            mean = np.asarray(data["mean"], dtype=np.float64)
            scale = np.asarray(data["scale"], dtype=np.float64)
            weights = np.asarray(data["weights"], dtype=np.float64)
            bias = np.asarray(data["bias"], dtype=np.float64)
            if not (mean.shape == scale.shape == weights.shape[1:] and weights.shape[0] == bias.shape[0] == 3):
                raise ValueError("shapes of mean, scale, weights and bias disagree")
            if not np.all(scale > 0):
                raise ValueError("scale must be positive")
            thresholds = {key: float(data.get(key, default))
                          for key, default in (("open_threshold", OPEN_THRESHOLD), ("analysis_threshold", ANALYSIS_THRESHOLD))}
            for key, value in thresholds.items():
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{key} {value} is not a probability")
            return cls(str(data["model"]), mean, scale, weights, bias, dict(data.get("trained_on", {})),
                       **thresholds)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"invalid report classifier {source}: {exc}") from exc


def load_classifier(path: str | Path) -> ReportClassifier:
    """Read a classifier written by `ReportClassifier.to_json`. Raises OSError if unreadable, ValueError if invalid."""
    path = Path(path)
    return ReportClassifier.from_json(path.read_text(encoding="utf-8"), str(path))


def classifier_path(topic_path: str | Path) -> Path:
    """Where a topic's classifier is kept: beside the topic file, `<topic>.classifier.json`."""
    path = Path(topic_path)
    return path.with_name(path.stem + ".classifier.json")


def train_classifier(model: str, vectors: npt.ArrayLike, kinds: Sequence[str], *, l2: float = 10.0,
                     open_threshold: float = OPEN_THRESHOLD, analysis_threshold: float = ANALYSIS_THRESHOLD,
                     steps: int = 3000,
                     trained_on: dict[str, Any] | None = None) -> ReportClassifier:
    """Fit the classifier on embedded examples and their label kinds (keys of KIND_CLASS).

    Classes are weighted inversely to their frequency (a rare class counts as much as a common one); `l2` is the
    ridge penalty on the weights (the larger, the smoother). Full-batch gradient descent with momentum on a convex
    loss: deterministic. Raises ValueError for an unknown kind or a class without examples.
    """
    x = np.asarray(vectors, dtype=np.float64)
    unknown = sorted({k for k in kinds if k not in KIND_CLASS})
    if unknown:
        raise ValueError(f"unknown example kinds {unknown} (known: {sorted(KIND_CLASS)})")
    y = np.array([CLASSES.index(KIND_CLASS[k]) for k in kinds])
    counts = np.bincount(y, minlength=len(CLASSES))
    if x.ndim != 2 or x.shape[0] != len(y) or np.any(counts == 0):
        raise ValueError(f"need examples of every class {CLASSES}; got counts {counts.tolist()} for {x.shape} vectors")
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    n, dim = z.shape
    sample_weight = (n / (len(CLASSES) * counts))[y]
    onehot = np.eye(len(CLASSES))[y]
    w = np.zeros((len(CLASSES), dim))
    b = np.zeros(len(CLASSES))
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    # Step size from the loss's smoothness bound (features standardised: curvature <= mean squared norm / 2).
    lr = 1.0 / (0.5 * float(np.mean(np.sum(z * z, axis=1)) * sample_weight.max()) + l2 / n)
    for _ in range(steps):
        p = _softmax(z @ w.T + b)
        g = (p - onehot) * sample_weight[:, None] / n
        gw = g.T @ z + (l2 / n) * w
        gb = g.sum(axis=0)
        vw = 0.9 * vw - lr * gw
        vb = 0.9 * vb - lr * gb
        w += vw
        b += vb
    info = dict(trained_on or {})
    info["examples"] = {c: int(k) for c, k in zip(CLASSES, counts)}
    info["l2"] = l2
    return ReportClassifier(model, mean, scale, w, b, info, open_threshold, analysis_threshold)


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _rounded(values: npt.NDArray[np.float64]) -> list[float]:
    return [round(float(v), 6) for v in values]


def judge_article(classifier: ReportClassifier, topic: Topic, article_id: str, title: str, text: str,
                  vector: npt.ArrayLike, published_at: datetime | None = None, lang: str | None = None) -> Judgement:
    """The judge step for one article: the classifier's verdict on its vector, and for a relevant article the
    violated state and intruder the text names (pipeline.entities) and, given its publication time, the day its lead
    dates the event to (pipeline.eventday), and whether it is a sure analysis piece (it joins no incident).
    `score` is P(report) + P(analysis) - P(other): positive means relevant."""
    verdict = classifier.judge(vector)
    p = verdict.probabilities
    score = p[0] + p[1] - p[2]
    if not verdict.relevant:
        return Judgement(article_id, False, score, verdict.reason, False, None, None)
    entities = extract_entities(topic, title, text)
    day = stated_day(title, text, published_at, lang) if published_at is not None else None
    return Judgement(article_id, True, score, verdict.reason, verdict.report, entities.country, entities.intruder, day,
                     verdict.analysis)

"""Training data for the report classifier: labeled articles of corpora on disk (the dev-corpus layout: site/,
labels.jsonl, incidents.json) and the topic file's own examples, and the fit itself.

Reads files only (pages are extracted with pipeline.extract, as the live pipeline does); no network, no database.
The embedder is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.embed import embedding_text
from pipeline.extract import extract_article
from pipeline.relevance import ANALYSIS_THRESHOLD, OPEN_THRESHOLD, ReportClassifier, train_classifier
from pipeline.topics import Topic

Encode = Callable[[Sequence[str]], npt.NDArray[np.floating[Any]]]


@dataclass(frozen=True)
class Example:
    """One labeled text: its kind (pipeline.relevance.KIND_CLASS keys), title and body, and where it came from."""

    kind: str
    title: str
    text: str
    source: str


def _label_kind(label: dict[str, Any]) -> str:
    """A corpus label's training kind: broken pages and syndicated copies count as what their topic is."""
    if label.get("incident"):
        return "report"
    if label.get("relevant"):
        return "analysis"
    kind = str(label.get("kind", ""))
    return kind if kind in ("near_topic", "unrelated") else "unrelated"


def corpus_examples(corpus_dir: Path, lead_words: int = 120) -> list[Example]:
    """The labeled articles of one corpus, their pages extracted from site/ (a missing page gives the title
    alone, as the live pipeline judges a dead link). Articles of incidents marked optional are left out: their
    labels cannot settle what they are. Raises OSError / ValueError naming the file for an unreadable corpus."""
    labels_path = corpus_dir / "labels.jsonl"
    incidents_path = corpus_dir / "incidents.json"
    incidents = json.loads(incidents_path.read_text(encoding="utf-8")) if incidents_path.is_file() else {}
    optional = {k for k, v in incidents.items() if isinstance(v, dict) and v.get("optional")}
    out: list[Example] = []
    for n, line in enumerate(labels_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            label = json.loads(line)
            url, title = str(label["url"]), str(label["title"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{labels_path}:{n}: not a label line ({exc})") from exc
        if label.get("incident") in optional:
            continue
        page = corpus_dir / "site" / url.replace("{{BASE}}", "").lstrip("/")
        text = ""
        if page.is_file():
            html = page.read_bytes().replace(b"{{BASE}}", b"http://corpus.invalid")
            text = extract_article(url, html, "text/html", lang=label.get("lang")).text
        out.append(Example(_label_kind(label), title, " ".join(text.split()[:lead_words]),
                           f"{corpus_dir.name}:{url}"))
    return out


def topic_examples(topic: Topic) -> list[Example]:
    """The topic file's own labeled examples (a headline or lead each)."""
    return [Example(kind, text, "", f"{topic.source}:examples.{kind}") for kind, text in topic.examples.items()]


def fit_classifier(model: str, encode: Encode, examples: Sequence[Example], *, lead_words: int = 120,
                   l2: float = 10.0, open_threshold: float = OPEN_THRESHOLD,
                   analysis_threshold: float = ANALYSIS_THRESHOLD,
                   trained_on: dict[str, Any] | None = None) -> ReportClassifier:
    """Embed the examples as the live pipeline embeds articles (title + lead) and fit the classifier."""
    vectors = encode([embedding_text(e.title, e.text, lead_words) for e in examples])
    return train_classifier(model, vectors, [e.kind for e in examples], l2=l2, open_threshold=open_threshold,
                            analysis_threshold=analysis_threshold, trained_on=trained_on)

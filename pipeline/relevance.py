"""Topic relevance: is an article about the watch topic? Combines topic cues with prototype similarity.

Pure (numpy only): the embedder is passed in; never imports prefect, duckdb, warehouse or flows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.embed import embedding_text as embed_text
from pipeline.topics import Cue, Topic, fold_text

Vector = npt.NDArray[np.float32]
Embed = Callable[[Sequence[str]], npt.NDArray[np.floating[Any]]]

# Words of article text (after the title) that go into the embedded text: the lead carries the news.
LEAD_WORDS = 120
# A cue in the title counts this many times a cue in the body.
TITLE_WEIGHT = 2.0
# Cue evidence saturates: the n-th distinct cue adds less (score contribution = 1 - exp(-hits / SATURATION)).
SATURATION = 3.0
# Weights of the three signals and the decision threshold (tuned on the dev corpus, see benchmarks/).
PROTOTYPE_WEIGHT = 1.0
INCLUDE_WEIGHT = 1.0
EXCLUDE_WEIGHT = 1.0
THRESHOLD = 0.35
# Lines of extracted text that are links to other stories ("- Other headline 14 Sep 2025", as kept by
# trafilatura from "More stories"/"Read also" boxes): they talk about other events, so cues there mislead.
_LINKED_HEADLINE = re.compile(
    r"^\s*[-\u2022*]\s.*(\d{1,2}\s+\w{3,10}\.?\s+\d{4}|\w{3,10}\.?\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})\s*$"
)


@dataclass(frozen=True)
class Relevance:
    """Decision, its score (positive means relevant), and a short human-readable reason."""

    relevant: bool
    score: float
    reason: str


@dataclass(frozen=True)
class TopicModel:
    """A topic with its embedded prototypes (rows L2-normalised) and the embedder's similarity gap.

    `gap` is the mean positive-positive similarity minus the mean positive-negative similarity of the
    examples: it puts prototype margins of different embedders on one scale.
    """

    topic: Topic
    positive: Vector
    negative: Vector
    gap: float


def embedding_text(title: str, text: str, lead_words: int = LEAD_WORDS) -> str:
    """The text to embed for an article judged by this module (pipeline.embed.embedding_text, 120 words)."""
    return embed_text(title, text, lead_words)


def build_topic_model(topic: Topic, embed: Embed) -> TopicModel:
    """Embed the topic's description and examples with `embed` (L2-normalised rows, one per text)."""
    positive_texts = [topic.description, *topic.examples.positive]
    vectors = np.asarray(embed([*positive_texts, *topic.examples.negative]), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(positive_texts) + len(topic.examples.negative):
        raise ValueError(f"embed returned shape {vectors.shape} for {len(vectors)} texts")
    positive = vectors[: len(positive_texts)]
    negative = vectors[len(positive_texts) :]
    pos_pos = positive @ positive.T
    n = len(positive)
    within = float((pos_pos.sum() - np.trace(pos_pos)) / max(n * (n - 1), 1))
    across = float((positive @ negative.T).mean())
    return TopicModel(topic=topic, positive=positive, negative=negative, gap=max(within - across, 1e-3))


def article_body(text: str) -> str:
    """`text` without lines that are dated links to other stories (related-stories lists)."""
    return "\n".join(line for line in text.splitlines() if not _LINKED_HEADLINE.match(line))


def _distinct_hits(cues: Sequence[Cue], folded: str) -> list[str]:
    return [cue.text for cue in cues if cue.search(folded)]


def _top_mean(similarities: Vector, k: int) -> float:
    k = min(k, len(similarities))
    return float(np.sort(similarities)[-k:].mean())


def judge_relevance(
    model: TopicModel, title: str, text: str, vector: npt.NDArray[np.floating[Any]]
) -> Relevance:
    """Judge whether an article is about the topic.

    `vector` is the article's embedding (same `embed` as the model, of `embedding_text(title, text)`);
    `text` may be empty (dead link, paywall): then the title and vector decide. Never raises for content.
    """
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    pos = _top_mean(model.positive @ vec, 2)
    neg = _top_mean(model.negative @ vec, 2)
    proto = (pos - neg) / model.gap

    folded_title = fold_text(title)
    folded_body = fold_text(article_body(text))
    cues = model.topic.cues
    inc_title = _distinct_hits(cues.include, folded_title)
    inc_body = _distinct_hits(cues.include, folded_body)
    exc_title = _distinct_hits(cues.exclude, folded_title)
    exc_body = _distinct_hits(cues.exclude, folded_body)
    inc = TITLE_WEIGHT * len(inc_title) + len(inc_body)
    exc = TITLE_WEIGHT * len(exc_title) + len(exc_body)
    inc_s = 1.0 - math.exp(-inc / SATURATION)
    exc_s = 1.0 - math.exp(-exc / SATURATION)

    score = PROTOTYPE_WEIGHT * proto + INCLUDE_WEIGHT * inc_s - EXCLUDE_WEIGHT * exc_s - THRESHOLD
    shown_inc = list(dict.fromkeys(inc_title + inc_body))[:4]
    shown_exc = list(dict.fromkeys(exc_title + exc_body))[:3]
    reason = f"prototype {proto:+.2f}; cue {inc_s:.2f} {shown_inc}; exclude {exc_s:.2f} {shown_exc}"
    if score > 0.0 and not inc and not _names_an_intruder(model.topic, folded_title + " " + folded_body):
        # Similar in tone (security news) but nothing of the topic named: neither a topic cue nor an intruder
        # kind. Without this, shootings and other violent news pass on prototype similarity alone.
        return Relevance(relevant=False, score=min(score, 0.0), reason=reason + "; no topic cue, no intruder named")
    return Relevance(relevant=score > 0.0, score=score, reason=reason)


def _names_an_intruder(topic: Topic, folded: str) -> bool:
    return any(cue.search(folded) for entry in topic.entities.intruders for cue in entry.cues)

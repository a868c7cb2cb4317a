"""Clustering metrics: pairwise (cluster-pair) P/R/F1, B-cubed P/R/F1 and first-story P/R/F1.

Pure: definitions as in shared/bench/README.md (Miranda et al. 2018 for pairwise). No I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PRF:
    """Precision, recall and their harmonic mean (0 when both are 0)."""

    precision: float
    recall: float
    f1: float

    @classmethod
    def of(cls, precision: float, recall: float) -> PRF:
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        return cls(precision, recall, f1)


@dataclass(frozen=True)
class ClusterScores:
    """Pairwise and B-cubed scores of one predicted clustering against gold."""

    pairwise: PRF
    bcubed: PRF


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score_clusters(gold: Mapping[str, str], pred: Mapping[str, str]) -> ClusterScores:
    """Score pred (item -> predicted cluster) against gold (item -> gold cluster) over the items of gold.

    Pairwise: TP = sum over (gold, pred) cells of C(n, 2); P = TP / sum over predicted clusters of C(n, 2),
    R = TP / sum over gold clusters of C(n, 2); a side with no pairs scores 1 (nothing to get wrong).
    B-cubed: per item |pred ∩ gold| / |pred| and / |gold|, averaged over items.
    Raises KeyError if an item of gold has no prediction.
    """
    items = list(gold)
    if not items:
        return ClusterScores(PRF.of(1.0, 1.0), PRF.of(1.0, 1.0))
    gold_sizes = Counter(gold[i] for i in items)
    pred_sizes = Counter(pred[i] for i in items)
    cells = Counter((gold[i], pred[i]) for i in items)

    tp = sum(_pairs(n) for n in cells.values())
    pred_pairs = sum(_pairs(n) for n in pred_sizes.values())
    gold_pairs = sum(_pairs(n) for n in gold_sizes.values())
    pairwise = PRF.of(tp / pred_pairs if pred_pairs else 1.0, tp / gold_pairs if gold_pairs else 1.0)

    b3_p = sum(cells[(gold[i], pred[i])] / pred_sizes[pred[i]] for i in items) / len(items)
    b3_r = sum(cells[(gold[i], pred[i])] / gold_sizes[gold[i]] for i in items) / len(items)
    return ClusterScores(pairwise, PRF.of(b3_p, b3_r))


def score_first_story(gold_first: set[str], pred_first: set[str], ids: Iterable[str]) -> PRF:
    """First-story detection over ids: items predicted to open an incident vs items that truly do.

    With no predicted firsts precision is 1; with no gold firsts recall is 1.
    """
    universe = set(ids)
    g = gold_first & universe
    p = pred_first & universe
    tp = len(g & p)
    return PRF.of(tp / len(p) if p else 1.0, tp / len(g) if g else 1.0)


def gold_first_stories(gold: Sequence[Mapping[str, Any]]) -> set[str]:
    """The ids of the labeled records {id, cluster, is_first?} (in file order) that open their cluster: those
    marked `is_first`, else the first record of each cluster."""
    seen: set[str] = set()
    first_ids: set[str] = set()
    for row in gold:
        first = row.get("is_first")
        if first is None:
            first = row["cluster"] not in seen
        seen.add(row["cluster"])
        if first:
            first_ids.add(str(row["id"]))
    return first_ids


def score_clustering(gold: Sequence[Mapping[str, Any]], predicted: Mapping[str, Mapping[str, Any]]
                     ) -> dict[str, PRF]:
    """Pairwise, B-cubed and first-story scores ("pairwise", "bcubed", "first_story") of a clustering:
    `predicted` maps each id to its {incident, new} (cluster-file's lines), `gold` is the labeled records in
    file order (see gold_first_stories). Raises KeyError if a gold id has no prediction."""
    ids = [str(r["id"]) for r in gold]
    clusters = score_clusters({str(r["id"]): str(r["cluster"]) for r in gold},
                              {i: str(predicted[i]["incident"]) for i in ids})
    first_story = score_first_story(gold_first_stories(gold), {i for i in ids if predicted[i].get("new")}, ids)
    return {"pairwise": clusters.pairwise, "bcubed": clusters.bcubed, "first_story": first_story}

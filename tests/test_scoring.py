"""Clustering metrics checked against small examples computed by hand."""

from __future__ import annotations

import pytest

from pipeline.scoring import PRF, score_clusters, score_first_story

# gold: {a, b, c} {d, e};  pred: {a, b} {c, d, e}
GOLD = {"a": "X", "b": "X", "c": "X", "d": "Y", "e": "Y"}
PRED = {"a": "1", "b": "1", "c": "2", "d": "2", "e": "2"}


def test_pairwise_counts_pairs_shared_by_gold_and_predicted_clusters() -> None:
    # cells: (X,1)=2 -> 1 pair, (X,2)=1 -> 0, (Y,2)=2 -> 1 pair: TP = 2
    # predicted pairs C(2,2)+C(3,2) = 4; gold pairs C(3,2)+C(2,2) = 4
    scores = score_clusters(GOLD, PRED)
    assert scores.pairwise.precision == pytest.approx(2 / 4)
    assert scores.pairwise.recall == pytest.approx(2 / 4)
    assert scores.pairwise.f1 == pytest.approx(0.5)


def test_bcubed_averages_per_article_overlap() -> None:
    # precision per item: a 2/2, b 2/2, c 1/3, d 2/3, e 2/3 -> (1+1+1/3+2/3+2/3)/5 = 11/15
    # recall per item:    a 2/3, b 2/3, c 1/3, d 2/2, e 2/2 -> (2/3+2/3+1/3+1+1)/5 = 11/15
    scores = score_clusters(GOLD, PRED)
    assert scores.bcubed.precision == pytest.approx(11 / 15)
    assert scores.bcubed.recall == pytest.approx(11 / 15)
    assert scores.bcubed.f1 == pytest.approx(11 / 15)


def test_perfect_clustering_scores_one_everywhere() -> None:
    scores = score_clusters(GOLD, {k: v.lower() for k, v in GOLD.items()})
    assert scores.pairwise == PRF(1.0, 1.0, 1.0)
    assert scores.bcubed == PRF(1.0, 1.0, 1.0)


def test_all_singletons_have_full_precision_and_no_pairwise_recall() -> None:
    scores = score_clusters(GOLD, {k: k for k in GOLD})
    assert scores.pairwise.precision == 1.0
    assert scores.pairwise.recall == 0.0
    assert scores.pairwise.f1 == 0.0
    assert scores.bcubed.precision == 1.0
    assert scores.bcubed.recall == pytest.approx((1 / 3 * 3 + 1 / 2 * 2) / 5)


def test_one_big_cluster_has_full_recall() -> None:
    scores = score_clusters(GOLD, {k: "all" for k in GOLD})
    assert scores.pairwise.recall == 1.0
    assert scores.pairwise.precision == pytest.approx(4 / 10)
    assert scores.bcubed.recall == 1.0
    assert scores.bcubed.precision == pytest.approx((3 / 5 * 3 + 2 / 5 * 2) / 5)


def test_first_story_compares_flagged_openers_with_true_firsts() -> None:
    prf = score_first_story({"a", "d"}, {"a", "c", "d"}, GOLD)
    assert prf.precision == pytest.approx(2 / 3)
    assert prf.recall == 1.0
    assert prf.f1 == pytest.approx(0.8)


def test_first_story_ignores_ids_outside_the_scored_set() -> None:
    prf = score_first_story({"a", "zz"}, {"a", "yy"}, ["a", "b"])
    assert prf == PRF(1.0, 1.0, 1.0)


def test_gold_first_stories_are_marked_ones_else_each_clusters_first_record() -> None:
    from pipeline.scoring import gold_first_stories

    gold = [{"id": 1, "cluster": "X"}, {"id": 2, "cluster": "X"}, {"id": 3, "cluster": "Y", "is_first": False},
            {"id": 4, "cluster": "Y", "is_first": True}, {"id": 5, "cluster": "Z"}]
    assert gold_first_stories(gold) == {"1", "4", "5"}


def test_score_clustering_scores_a_cluster_file_output_against_its_gold() -> None:
    from pipeline.scoring import score_clustering

    gold = [{"id": k, "cluster": GOLD[k]} for k in "abcde"]
    predicted = {k: {"incident": PRED[k], "new": k in "ac"} for k in "abcde"}
    scores = score_clustering(gold, predicted)
    assert scores["pairwise"] == score_clusters(GOLD, PRED).pairwise
    assert scores["bcubed"] == score_clusters(GOLD, PRED).bcubed
    assert scores["first_story"] == PRF.of(0.5, 0.5)  # a opens X (right), c opens nothing new in gold; d missed
    with pytest.raises(KeyError):
        score_clustering(gold, {k: v for k, v in predicted.items() if k != "e"})

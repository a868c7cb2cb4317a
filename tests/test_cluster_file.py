"""`newswatch cluster-file` and `eval-clusters`: the incident engine over a file of records and the scores of its
clustering, with the real model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.clustering import cluster_inputs

RECORDS = [
    {"id": "a1", "date": "2025-09-10T04:00:00Z", "title": "Russian drones cross into Poland near Wyryki",
     "text": "Polish and NATO jets scrambled overnight after Russian drones crossed into Poland; debris fell on a "
             "house in Wyryki.", "cluster": "pl"},
    {"id": "a2", "date": "2025-09-10T09:00:00Z", "title": "Poland shoots down Russian drones that crossed its border",
     "text": "Poland shot down Russian drones that crossed into its airspace overnight, the first time a NATO member "
             "fired on them; debris hit a house in Wyryki.", "cluster": "pl"},
    {"id": "b1", "date": "2025-09-19T12:00:00Z", "title": "Three Russian MiG-31 jets violate Estonian airspace",
     "text": "Three Russian MiG-31 fighter jets entered Estonian airspace near Vaindloo island for twelve minutes "
             "without permission; Italian F-35s escorted them out.", "cluster": "ee"},
]


def test_cluster_inputs_name_the_first_bad_record() -> None:
    ok = cluster_inputs([{"id": 1, "date": "2025-09-10", "title": "t", "text": "x"}])
    assert ok[0].key == "1" and ok[0].published_at == datetime(2025, 9, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="record 2 lacks date, text"):
        cluster_inputs([{"id": 1, "date": "2025-09-10", "title": "t", "text": "x"}, {"id": 2, "title": "t"}])
    with pytest.raises(ValueError, match="record 1: date 'yesterday' is not ISO 8601"):
        cluster_inputs([{"id": 1, "date": "yesterday", "title": "t", "text": "x"}])


def test_a_record_with_a_bad_date_is_one_error_line(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps({"id": 1, "date": "soon", "title": "t", "text": "x"}) + "\n")
    result = CliRunner().invoke(main, ["cluster-file", str(records), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1
    assert "Error:" in result.output and "date 'soon' is not ISO 8601" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.slow  # cluster-file embeds the records with the model
def test_cluster_file_then_eval_clusters_scores_its_own_clustering(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    out = tmp_path / "clusters.jsonl"
    result = CliRunner().invoke(main, ["cluster-file", str(records), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["a1", "a2", "b1"]
    by_id = {r["id"]: r for r in lines}
    assert by_id["a1"]["new"] and by_id["b1"]["new"] and not by_id["a2"]["new"]
    assert by_id["a2"]["incident"] == by_id["a1"]["incident"] != by_id["b1"]["incident"]
    table = CliRunner().invoke(main, ["eval-clusters", str(out), "--gold", str(records)])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines() == [f"{name:12s} P 1.000  R 1.000  F1 1.000"
                                         for name in ("pairwise", "bcubed", "first_story")]
    as_json = CliRunner().invoke(main, ["eval-clusters", str(out), "--gold", str(records), "--json"])
    assert json.loads(as_json.output)["bcubed"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}

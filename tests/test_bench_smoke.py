"""Smoke test of benchmarks/bench_throughput.py: a tiny run produces the results JSON with its keys (no timing
assertions). Reads ../shared/bench/gva-dev.jsonl.gz and skips when it is absent."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow  # the throughput benchmark runs the cycle flow

BENCH = PROJECT_ROOT / "benchmarks" / "bench_throughput.py"
DATA = PROJECT_ROOT.parent / "shared" / "bench" / "gva-dev.jsonl.gz"


def _bench_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_throughput", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_throughput", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not DATA.is_file(), reason="../shared/bench/gva-dev.jsonl.gz absent")
def test_bench_throughput_tiny_run(tmp_path: Path, prefect_harness: None) -> None:
    bench = _bench_module()
    out = tmp_path / "result.json"
    rc = bench.main(["--feeds", "3", "--items", "5", "--assign-sizes", "1000", "--reps", "1", "--queries", "5",
                     "--busy-reps", "2", "--out", str(out), "--workdir", str(tmp_path / "work")])
    assert rc == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    for key in ("e2e_over_embed_ratio", "idle_over_busy_ratio", "idle_over_busy_ratio_500", "assign_ms_p50_1k",
                "assign_ms_p95_1k", "peak_rss_mb", "e2e_articles_per_s", "warehouse_mb_per_10k_articles",
                "stage_rates_per_s", "busy", "idle", "embed_only", "targets"):
        assert key in result, key
    assert result["articles"] == 15
    assert result["busy"]["new_entries"] == 15
    assert result["idle"]["new_entries"] == 0 and result["idle"]["not_modified"] == 3  # every feed answered 304
    assert set(result["busy"]["stages_s"]) >= {"poll", "fetch_extract", "embed", "judge", "assign"}
    assert len(result["reps"]) == 2 and all(r["busy"]["new_entries"] == 15 for r in result["reps"])  # fresh each
    assert result["e2e_over_embed_ratio"] == statistics.median(result["e2e_over_embed_ratio_all"])
    assert result["embed_only"]["texts"] == 15

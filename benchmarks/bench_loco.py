"""Leave-one-corpus-out: for each labeled corpus, train the report classifier on the others (plus the topic file's
examples), replay the held-out corpus through the real pipeline with it, and score it; then the same with the
shipped classifier (trained on all of them) for comparison. Runs the project's own CLI (`newswatch topic train`,
`newswatch eval`) in subprocesses; talks only to the loopback corpus server.

Usage: python benchmarks/bench_loco.py [CORPUS_DIR ...] [--out results.json]
Default corpora: pipeline/defaults/corpus/dev (the demo's) and tests/data/corpus/{dev-late2025,dev-winter2024}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [ROOT / "pipeline" / "defaults" / "corpus" / "dev",
           *(ROOT / "tests" / "data" / "corpus" / name for name in ("dev-late2025", "dev-winter2024"))]


def _cli(args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "flows", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)
    if done.returncode != 0:
        sys.exit(f"newswatch {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def _row(label: str, r: dict) -> str:
    joined = sum(r["non_english_assigned"].values())
    return (f"| {label} | {r['alerted_incidents']}/{r['incidents']} | {r['alert_precision']:.3f} | "
            f"{r['duplicate_alerts']} | {r['false_alerts']} | {r['relevance']['f1']:.3f} | {r['bcubed']['f1']:.3f} | "
            f"{joined}/{len(r['non_english_assigned'])} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--out", type=Path, default=None, help="Write every score as JSON here.")
    args = parser.parse_args()
    corpora = [c.resolve() for c in args.corpora]
    results: dict[str, dict] = {"folds": {}, "all_data": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="newswatch-loco-") as tmp:
        for held in corpora:
            train = [c for c in corpora if c != held]
            classifier = Path(tmp) / f"without-{held.name}.classifier.json"
            _cli(["topic", "train", *[a for c in train for a in ("--corpus", str(c))], "--out", str(classifier)])
            scores = json.loads(_cli(["eval", str(held), "--json"],
                                     env={"NEWSWATCH_TOPIC__CLASSIFIER": str(classifier)}))
            results["folds"][held.name] = {"trained_on": [c.name for c in train], **scores[held.name]}
            print(f"fold {held.name}: trained on {', '.join(c.name for c in train)}", file=sys.stderr)
        shipped = json.loads(_cli(["eval", *map(str, corpora), "--json"]))
        results["all_data"] = shipped
    print("| held-out corpus (classifier trained on the others) | incidents alerted | precision | duplicates | "
          "false | relevance F1 | B-cubed F1 | non-English joined |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["folds"].items():
        print(_row(f"{name} (LOCO)", r))
    for name, r in results["all_data"].items():
        print(_row(f"{name} (shipped, all data)", r))
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

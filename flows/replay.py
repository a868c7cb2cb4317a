"""`newswatch eval`: replay a labeled corpus through the real monitor cycle with a virtual clock, then score it.
Composition only: serving, stepping the clock and calling the flow; the scoring is pipeline.evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import warehouse.connection
import warehouse.queries
from flows.corpus_server import CorpusServer
from flows.cycle import run_cycle
from pipeline.evaluation import Decision, Label, Replay
from pipeline.settings import FeedSettings, Settings


def read_labels(corpus_dir: Path, base_url: str) -> list[Label]:
    """The corpus's labels.jsonl with links on `base_url`; articles of incidents that incidents.json marks
    `"optional": true` are flagged (scored neither way)."""
    path = corpus_dir / "labels.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no labels.jsonl in the corpus directory")
    incidents_path = corpus_dir / "incidents.json"
    incidents = json.loads(incidents_path.read_text(encoding="utf-8")) if incidents_path.is_file() else {}
    optional = {name for name, facts in incidents.items() if isinstance(facts, dict) and facts.get("optional")}
    labels = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            labels.append(Label(d["url"].replace("{{BASE}}", base_url), d["published"], bool(d["relevant"]),
                                d.get("incident"), d.get("kind", ""), d.get("lang", ""),
                                optional=d.get("incident") in optional))
    labels.sort(key=lambda l: (datetime.fromisoformat(l.published), l.url))
    return labels


def replay_steps(labels: list[Label], step_hours: float, skip_empty: bool) -> list[datetime]:
    """Clock values: from the first publication, every `step_hours`, until the last item is visible."""
    times = sorted(datetime.fromisoformat(l.published) for l in labels)
    step = timedelta(hours=step_hours)
    clock = times[0]
    steps, prev = [], None
    while True:
        if not skip_empty or prev is None or any(prev < t <= clock for t in times):
            steps.append(clock)
        if clock >= times[-1]:
            return steps
        prev, clock = clock, clock + step


def replay(corpus_dir: Path, settings: Settings, step_hours: float = 12.0, skip_empty: bool = True,
           progress: Callable[[int, int, datetime, Any], None] | None = None) -> Replay:
    """Serve `corpus_dir`, run one cycle per clock step on `settings` (its feeds are replaced by the corpus
    outlets), and return the labels with what the warehouse decided (score it with pipeline.evaluation)."""
    with CorpusServer(corpus_dir / "site") as server:
        labels = read_labels(corpus_dir, server.base_url)
        feeds = [{"name": n, "url": u} for n, u in server.feed_urls().items()]
        run_settings = settings.model_copy(update={"feeds": [FeedSettings(**f) for f in feeds]})
        steps = replay_steps(labels, step_hours, skip_empty)
        for n, clock in enumerate(steps, 1):
            server.set_clock(clock)
            report = run_cycle(run_settings)
            if progress:
                progress(n, len(steps), clock, report)
    channel = settings.alerts.channels[0].name
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True,
                                             busy_timeout_seconds=settings.warehouse.busy_timeout_seconds) as con:
        decisions = {u: Decision(r, i) for u, (r, i) in warehouse.queries.read_decisions(con).items()}
        alerted = warehouse.queries.read_alerted_urls(con, channel)
    return Replay(labels, decisions, alerted)

"""The incident engine's view of a text and the engine over plain records: which model makes its dense vectors,
its vector and terms of a title + text, and `newswatch cluster-file`'s run over {id, date, title, text} records
(the same assignment loop as the live pipeline, every record relevant).

Pure: no network, no database; the caller passes the loaded embedder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from pipeline.assign import StreamItem, assign_stream, build_index
from pipeline.embed import E5_SMALL, MINILM, Embedder, embedding_text
from pipeline.eventday import stated_day
from pipeline.incidents import ClusterSettings
from pipeline.lexical import DocFreq, extract_terms
from pipeline.models import AssignmentRecord
from pipeline.topics import Cue

# Texts encoded per call over a whole file (one progress step each).
ENCODE_CHUNK = 256
RECORD_FIELDS = ("id", "date", "title", "text")


def cluster_model(engine: ClusterSettings) -> str:
    """The embedder behind the engine's dense vectors ('e5' and 'minilm' name the packaged models)."""
    return {"e5": E5_SMALL, "minilm": MINILM}.get(engine.dense_model, engine.dense_model)


def engine_vectors(embedder: Embedder, engine: ClusterSettings, texts: Sequence[tuple[str, str]],
                   on_chunk: Callable[[int], None] | None = None) -> np.ndarray:
    """The engine's dense vectors of (title, text) pairs: the title and the first engine.lede_words words, encoded
    ENCODE_CHUNK at a time (`on_chunk` gets each chunk's size); an (n, dim) float32 matrix."""
    vectors = []
    for start in range(0, len(texts), ENCODE_CHUNK):
        chunk = [embedding_text(title, text, engine.lede_words) for title, text in texts[start:start + ENCODE_CHUNK]]
        vectors.append(embedder.encode(chunk))
        if on_chunk is not None:
            on_chunk(len(chunk))
    return np.vstack(vectors) if vectors else np.zeros((0, embedder.dim), dtype=np.float32)


def known_incident_features(embedder: Embedder, engine: ClusterSettings, title: str, description: str
                            ) -> tuple[np.ndarray, dict[str, int]]:
    """(vector, terms) of an incident an analyst registers, as the engine sees an article with that title and
    text, so that reports of it join it."""
    vector = engine_vectors(embedder, engine, [(title, description)])[0]
    return vector, extract_terms(title, description, lead_words=engine.term_lead_words)


@dataclass(frozen=True)
class ClusterInput:
    """One record of a file to cluster."""

    key: str
    published_at: datetime
    title: str
    text: str
    lang: str | None = None  # the record's optional `lang`: the language its stated event day is read in


def _when(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))  # 3.11 reads a trailing Z
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cluster_inputs(rows: Sequence[Mapping[str, Any]]) -> list[ClusterInput]:
    """Records {id, date (ISO 8601, UTC when it names no zone), title, text} as ClusterInput, in file order; label
    fields are never read. Raises ValueError naming the first record (1-based) that lacks a field or whose date
    is not ISO 8601."""
    for n, row in enumerate(rows, 1):
        missing = [k for k in RECORD_FIELDS if k not in row]
        if missing:
            raise ValueError(f"record {n} lacks {', '.join(missing)}")
    out = []
    for n, row in enumerate(rows, 1):
        try:
            when = _when(row["date"])
        except ValueError as exc:
            raise ValueError(f"record {n}: date {row['date']!r} is not ISO 8601") from exc
        lang = row.get("lang")
        out.append(ClusterInput(str(row["id"]), when, str(row["title"]), str(row["text"]),
                                str(lang) if lang else None))
    return out


def cluster_records(embedder: Embedder, engine: ClusterSettings, records: Sequence[ClusterInput],
                    later_stage: Sequence[Cue] = (), on_chunk: Callable[[int], None] | None = None
                    ) -> dict[str, AssignmentRecord]:
    """Run the incident engine over `records` from an empty index (every record relevant, every one may open an
    incident; the day each lead dates its event to counts, as in the live pipeline); the assignment of each record by its key. `on_chunk`: see engine_vectors."""
    matrix = engine_vectors(embedder, engine, [(r.title, r.text) for r in records], on_chunk)
    items = [StreamItem(r.key, r.published_at, r.title, r.text, matrix[i], lang=r.lang,
                        event_day=stated_day(r.title, r.text, r.published_at, r.lang))
             for i, r in enumerate(records)]
    return {a.article_id: a for a in assign_stream(build_index(engine, DocFreq(), []), items, later_stage)}

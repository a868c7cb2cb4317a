"""Process-wide resources built once at the entry point and reused between cycles (the model stays loaded)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

from pipeline.embed import Embedder, load_embedder
from pipeline.relevance import TopicModel, build_topic_model
from pipeline.settings import Settings
from pipeline.topics import Topic, load_topic
from warehouse import store


@lru_cache(maxsize=4)
def embedder(model: str, batch_size: int) -> Embedder:
    return load_embedder(model, batch_size)


@lru_cache(maxsize=8)
def topic(path: str) -> Topic:
    return load_topic(path)


@lru_cache(maxsize=8)
def topic_model(path: str, model: str, batch_size: int) -> TopicModel:
    emb = embedder(model, batch_size)
    return build_topic_model(topic(path), emb.encode)


def warehouse(settings: Settings) -> AbstractContextManager[Any]:
    """A connection of the pipeline's own stages (cycle, outbox), with the service's DuckDB limits
    (warehouse.memory_limit_mb, warehouse.threads) and busy timeout; closed when the block ends."""
    w = settings.warehouse
    return store.open_warehouse(w.path, busy_timeout_seconds=w.busy_timeout_seconds,
                                memory_limit_mb=w.memory_limit_mb, threads=w.threads)

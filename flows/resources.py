"""Process-wide resources built once at the entry point and reused between cycles (the model stays loaded)."""

from __future__ import annotations

from functools import lru_cache

from pipeline.embed import Embedder, load_embedder
from pipeline.relevance import TopicModel, build_topic_model
from pipeline.topics import Topic, load_topic


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

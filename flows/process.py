"""What a process that runs cycles sets up first, at its entry point (the CLI, a deployment's flow, run_cycle), not
at import. Light on purpose: every CLI command calls it before it imports anything heavy."""

from __future__ import annotations

import os

from flows.logs import hide_known_error_tracebacks
from pipeline.memory import limit_malloc_arenas


def prepare_process() -> None:
    """What a process that runs cycles sets up first, at its entry point (the CLI, a deployment's flow, run_cycle):
    the embedding model's OpenMP threads sleep when a parallel region ends instead of spinning for it (the fetch
    stage extracts pages beside the model, and spinning threads kept a core from it and it from them; libgomp
    reads it when torch loads, so before any model loads; an operator's setting wins), and glibc's malloc arenas
    are capped (pipeline/memory.py), and Prefect's run loggers print a known failure as its one line, without a
    traceback (flows/logs.py). Measurements: benchmarks/PERFORMANCE.md."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    limit_malloc_arenas()
    hide_known_error_tracebacks()

"""The process's memory: cap glibc's malloc arenas and hand freed memory back to the OS. No-ops where the C library
is not glibc. No network, no database."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _glibc() -> Any:
    """The C library, when it is glibc (mallopt, malloc_trim); None elsewhere. Looked up once: find_library
    runs a subprocess."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (by default up to 8 per core, one per busy thread): the fetch pool's threads
    would each keep freed page buffers in an arena of their own, hundreds of MB of resident memory over a long
    run. For entry points, before the threads start."""
    if (libc := _glibc()) is not None:
        libc.mallopt(-8, arenas)  # M_ARENA_MAX


def release_freed_memory() -> None:
    """Hand memory that has been freed back to the OS (glibc's malloc_trim). glibc keeps freed blocks for
    reuse: every model batch's activations, every page body and DuckDB's buffers left resident memory that
    nothing used (benchmarks/PERFORMANCE.md)."""
    if (libc := _glibc()) is not None:
        libc.malloc_trim(0)

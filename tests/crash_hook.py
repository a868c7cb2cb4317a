"""Test support for tests/test_crash_safety.py: run the real `newswatch run` CLI in this process, SIGKILLing it
at one chosen point. Production code is untouched: the hook wraps public functions of the warehouse modules from
outside.

    python -m tests.crash_hook "after:save_article:3" run --config c.toml   (or "none": no kill)

Points: `before:FN:N` / `after:FN:N` kill just before / after the Nth call of the warehouse function FN (whichever
module of warehouse/ defines it); `commit:FN:N` kills inside the Nth call of FN, with its writes done but its
transaction not yet committed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    import importlib
    import pkgutil

    import warehouse
    import warehouse.connection

    when, name, nth = point.split(":")
    modules = [importlib.import_module(f"warehouse.{m.name}") for m in pkgutil.iter_modules(warehouse.__path__)]
    home = next(m for m in modules if getattr(getattr(m, name, None), "__module__", None) == m.__name__)
    target: Callable[..., Any] = getattr(home, name)
    calls = {"n": 0, "inside": False}

    if when == "commit":
        real_tx = warehouse.connection.transaction

        @contextlib.contextmanager
        def dying_tx(con: Any) -> Iterator[None]:
            if not calls["inside"]:
                with real_tx(con):
                    yield
                return
            con.execute("BEGIN TRANSACTION")
            yield
            _die()  # the writes are done, COMMIT never happens

        for module in modules:  # every table module calls the transaction it imported
            if getattr(module, "transaction", None) is real_tx:
                module.transaction = dying_tx  # type: ignore[attr-defined]

    @functools.wraps(target)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        hit = calls["n"] == int(nth)
        if hit and when == "before":
            _die()
        calls["inside"] = hit and when == "commit"
        try:
            result = target(*args, **kwargs)
        finally:
            calls["inside"] = False
        if hit and when == "after":
            _die()
        return result

    setattr(home, name, wrapper)


if __name__ == "__main__":
    if sys.argv[1] != "none":
        install(sys.argv[1])
    from flows.cli import main

    main(sys.argv[2:])

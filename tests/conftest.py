"""Shared fixtures: real servers on ephemeral ports, real DuckDB files, the real model, Prefect's test harness."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Prefect writes its database and results under PREFECT_HOME: keep the tests' apart from the user's.
_PREFECT_HOME = tempfile.mkdtemp(prefix="newswatch-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from flows.corpus_server import CorpusServer  # noqa: E402
from pipeline.settings import PROJECT_ROOT, Settings, load_settings  # noqa: E402

CORPUS = PROJECT_ROOT / "tests" / "data" / "corpus" / "dev"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NEWSWATCH_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEWSWATCH_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def corpus_server() -> Iterator[CorpusServer]:
    with CorpusServer(CORPUS / "site") as server:
        yield server


@pytest.fixture
def make_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "warehouse": {"path": str(tmp_path / "nw.duckdb"), "busy_timeout_seconds": 5},
            "fetch": {"allow_private_addresses": True, "timeout_seconds": 10},
            "digest": {"out_dir": str(tmp_path / "out")},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        return load_settings([], environ={}, overrides=base)

    return make


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield

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
from pipeline.defaults import DEMO_CORPUS as CORPUS  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402

PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`pytest -m "not slow"` is the fast inner loop: a test that starts Prefect (through `prefect_harness`, or
    `replayed`, built on it) and is not marked slow is refused, so the loop cannot slowly grow slow again."""
    unmarked = [item.nodeid for item in items
                if "prefect_harness" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("tests that start Prefect must be marked slow (@pytest.mark.slow or a module "
                                "pytestmark): " + ", ".join(unmarked))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NEWSWATCH_* variable of the developer's shell leaks into a test, nor a proxy setting: the tests' servers
    are on 127.0.0.1, and the proxy tests name their proxy themselves."""
    for name in list(os.environ):
        if name.startswith("NEWSWATCH_") or name.lower() in PROXY_VARIABLES:
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


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory, corpus_server: CorpusServer, prefect_harness: None
             ) -> dict[str, Any]:
    """The dev corpus replayed in publication order: 12-hour steps, one `newswatch run` per step."""

    import socket

    from click.testing import CliRunner

    import warehouse.connection
    import warehouse.queries
    from flows.cli import main
    from flows.replay import read_labels, replay_steps
    from pipeline.evaluation import Decision, evaluate_replay

    tmp = tmp_path_factory.mktemp("e2e")
    config = tmp / "newswatch.toml"
    with socket.socket() as sock:  # a port nothing listens on during the replay: the mail server is "down"
        sock.bind(("127.0.0.1", 0))
        smtp_port = sock.getsockname()[1]
    feeds = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in corpus_server.feed_urls().items())
    feeds += f'[[feeds]]\nname = "gone-outlet"\nurl = "{corpus_server.base_url}/gone-outlet/feed.xml"\n'
    config.write_text(
        f'[warehouse]\npath = "{tmp / "nw.duckdb"}"\n[fetch]\nallow_private_addresses = true\n'
        f'[digest]\nout_dir = "{tmp / "out"}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        f'[alerts]\nmax_attempts = 50\nchannels = [{{ name = "log", type = "log" }}, '
        f'{{ name = "desk-mail", type = "email", to = ["desk@example.org"] }}]\n{feeds}', encoding="utf-8")
    labels = read_labels(CORPUS, corpus_server.base_url)
    runner = CliRunner()
    outputs = []
    try:
        # one `newswatch run` per 12-hour step in which at least one item becomes visible
        for clock in replay_steps(labels, step_hours=12, skip_empty=True):
            corpus_server.set_clock(clock)
            result = runner.invoke(main, ["run", "--config", str(config)], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    finally:
        corpus_server.set_clock(None)
    with warehouse.connection.open_warehouse(tmp / "nw.duckdb", read_only=True) as con:
        decisions = {u: Decision(r, i) for u, (r, i) in warehouse.queries.read_decisions(con).items()}
        alerted = warehouse.queries.read_alerted_urls(con, "log")
    return {"config": config, "outputs": outputs, "report": evaluate_replay(labels, decisions, alerted), "tmp": tmp,
            "smtp_port": smtp_port}

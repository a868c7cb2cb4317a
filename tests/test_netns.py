"""A real `newswatch run` inside an empty network namespace (`unshare -n`, loopback only): feeds on non-global
addresses are recorded as refused by the guard, not as connection errors. Nothing can leave the namespace, so
no packet reaches any other machine whatever the code does. Skipped where namespaces cannot be made (not
root, no `unshare`); CI runs as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import warehouse.connection
import warehouse.queries

FEEDS = {"metadata": "http://100.100.100.200/latest/feed.xml", "cgnat": "http://100.64.0.1/feed.xml",
         "benchmarking": "http://198.18.0.1/feed.xml", "ietf": "http://192.0.0.170/feed.xml",
         "sixtofour": "http://[2002:7f00:1::]/feed.xml"}


def _namespaces_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_available(), reason="needs root and unshare -n (CI has both)")


def run_in_empty_namespace(args: list[str], tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`args` run in a new, empty network namespace with only loopback up; a Prefect home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "NEWSWATCH_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(["unshare", "-n", "sh", "-c", script, "sh", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=tmp_path)


@pytest.mark.slow
def test_a_cycle_records_every_non_global_feed_as_refused(tmp_path: Path) -> None:
    config = tmp_path / "nw.toml"
    config.write_text(
        f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\n[fetch]\nallow_private_addresses = false\n'
        f'timeout_seconds = 5\n'
        + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in FEEDS.items()), encoding="utf-8")
    result = run_in_empty_namespace([sys.executable, "-m", "flows", "run", "-c", str(config)], tmp_path)
    # every feed refused: no feed could be polled, so `run` says "down" (exit 2, docs/operations.md)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Error: no feed could be polled (5 failed" in result.stderr, result.stderr[-3000:]
    with warehouse.connection.open_warehouse(tmp_path / "nw.duckdb", read_only=True) as con:
        _, rows = warehouse.queries.query(con, "SELECT feed, last_status, last_error FROM v_feed_health")
    health = {feed: (status, error) for feed, status, error in rows}
    assert set(health) == set(FEEDS)
    for feed, (status, error) in health.items():
        assert status == "forbidden_address", (feed, status, error)
        assert "not a globally routable address" in error, (feed, error)
    assert "6to4 wrapping loopback 127.0.0.1" in health["sixtofour"][1]
    assert "connection_error" not in result.stderr


def test_a_public_host_is_fetched_through_a_proxy_with_the_guard_on(tmp_path: Path) -> None:
    """The guard on, a "public" host that exists only inside the namespace, a real proxy on loopback: its feed is
    fetched directly and through the proxy, and its redirects to non-global addresses are refused either way."""
    import json

    from tests.proxy_server import TINYPROXY

    if TINYPROXY is None:
        pytest.skip("tinyproxy is not installed (.ci/run installs it)")
    script = Path(__file__).resolve().parent / "netns_public_host.py"
    result = run_in_empty_namespace([sys.executable, str(script)], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "via none" in out["direct feed"]
    assert "tinyproxy" in out["proxied feed"]
    for route in ("direct", "proxied"):
        for case in ("hop-cgnat", "hop-metadata", "hop-6to4"):
            assert out[f"{route} {case}"] == "forbidden_address", (route, case, out)
    requested = out["proxy requests"].splitlines()
    assert requested and all(line.startswith("GET http://93.184.216.34:") for line in requested), requested

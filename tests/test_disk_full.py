"""A full disk under the warehouse: the run ends in one `Error:` line naming the file that could not be written,
no temporary file is left behind, committed data stays intact, and the next run after space returns resumes
with nothing lost. On a small tmpfs mounted by the test (root only; skipped otherwise; CI runs as root)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import warehouse.connection
import warehouse.queries
from flows.corpus_server import CorpusServer
from pipeline.errors import DiskFull
from tests.conftest import CORPUS
from tests.outbox_servers import seed_two_incidents


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Fill `disk` with a file until no space is left, then free `leave_bytes` of it."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave_bytes:
        os.truncate(filler, max(0, filler.stat().st_size - leave_bytes))
    return filler


def leftovers(disk: Path) -> list[str]:
    return sorted(p.name for p in disk.rglob("*") if ".tmp" in p.name)


def test_a_snapshot_that_does_not_fit_leaves_nothing_behind(small_disk: Path) -> None:
    path = small_disk / "nw.duckdb"
    seed_two_incidents(str(path))
    fill(small_disk, leave_bytes=64 * 1024)
    with warehouse.connection.open_warehouse(path) as con, pytest.raises(DiskFull) as info:
        warehouse.queries.publish_snapshot(con, path)
    assert "no space left on device" in str(info.value) and str(small_disk) in info.value.path
    assert leftovers(small_disk) == []
    (small_disk / "filler").unlink()
    with warehouse.connection.open_warehouse(path) as con:  # the warehouse itself is intact, and the next publish works
        assert warehouse.queries.query(con, "SELECT count(*) FROM v_incidents")[1][0][0] == 2
        assert warehouse.queries.publish_snapshot(con, path).exists()
    assert leftovers(small_disk) == []


def _entries_served(server: CorpusServer) -> int:
    from urllib.request import urlopen

    from pipeline.feeds import parse_feed
    from pipeline.models import FeedSource

    total = 0
    for name, url in server.feed_urls().items():
        with urlopen(url) as resp:  # noqa: S310 - 127.0.0.1
            total += len(parse_feed(FeedSource(name, url), resp.read()).entries)
    return total


@pytest.mark.slow
def test_a_cycle_on_a_full_disk_is_one_error_line_and_the_next_run_resumes(
        small_disk: Path, prefect_harness: Any, capfd: pytest.CaptureFixture[str]) -> None:
    from flows.cli import main

    path = small_disk / "nw.duckdb"
    with CorpusServer(CORPUS / "site") as server:
        config = small_disk.parent / "nw.toml"
        config.write_text(
            f'[warehouse]\npath = "{path}"\nbusy_timeout_seconds = 5\n[fetch]\nallow_private_addresses = true\n'
            f'[digest]\nout_dir = "{small_disk / "out"}"\n'
            + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in server.feed_urls().items()),
            encoding="utf-8")
        runner = CliRunner()
        server.set_clock(datetime(2025, 9, 11, tzinfo=UTC))
        first = runner.invoke(main, ["run", "-c", str(config)], catch_exceptions=False)
        assert first.exit_code == 0, first.output
        with warehouse.connection.open_warehouse(path, read_only=True) as con:
            articles_before = warehouse.queries.query(con, "SELECT count(*) FROM v_articles")[1][0][0]
        assert articles_before > 0
        server.set_clock(None)  # every item of the corpus now visible: the next run has much to write
        filler = fill(small_disk)
        capfd.readouterr()
        full = runner.invoke(main, ["run", "-c", str(config)])
        printed = capfd.readouterr()
        assert full.exit_code == 1
        errors = [line for line in full.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, full.output
        assert "no space left on device: could not write" in errors[0] and str(small_disk) in errors[0]
        assert "Traceback" not in full.output + printed.out + printed.err
        assert leftovers(small_disk) == []
        with warehouse.connection.open_warehouse(path, read_only=True) as con:  # what was committed is intact
            assert warehouse.queries.query(con, "SELECT count(*) FROM v_articles")[1][0][0] >= articles_before
        filler.unlink()  # space returns
        again = runner.invoke(main, ["run", "-c", str(config)], catch_exceptions=False)
        assert again.exit_code == 0, again.output
        served = _entries_served(server)
    with warehouse.connection.open_warehouse(path, read_only=True) as con:
        articles = warehouse.queries.query(con, "SELECT count(*), count(DISTINCT url) FROM v_articles")[1][0]
        failing = warehouse.queries.query(con, "SELECT count(*) FROM v_feed_health WHERE last_status <> 'ok'")[1][0][0]
    assert articles[0] == articles[1] == served  # every served item once: nothing lost, nothing twice
    assert failing == 0
    assert leftovers(small_disk) == []

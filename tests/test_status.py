"""`newswatch run` exit codes and `newswatch status`: cron and systemd can tell a cycle failed; the terminal shows
each alert and failure once, and per-stage progress only with -v."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.corpus_server import CorpusServer
from flows.progress import StageProgress
from pipeline.health import DEGRADED, DOWN, OK, CycleRecord, FeedHealth, cycle_outcome, service_status

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(tmp: Path, feeds: dict[str, str], name: str = "c.toml") -> Path:
    path = tmp / name
    path.write_text(
        f'[warehouse]\npath = "{tmp / "nw.duckdb"}"\nbusy_timeout_seconds = 5\n[fetch]\nallow_private_addresses = '
        f'true\ntimeout_seconds = 3\n[digest]\nout_dir = "{tmp / "out"}"\n'
        + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items()), encoding="utf-8")
    return path


def test_a_cycle_is_down_when_no_feed_answers_degraded_when_a_stage_fails_after_polling() -> None:
    assert cycle_outcome(feeds_answered=0, failed_stage=None) == DOWN
    assert cycle_outcome(feeds_answered=0, failed_stage="register") == DOWN
    assert cycle_outcome(feeds_answered=3, failed_stage="judge") == DEGRADED
    assert cycle_outcome(feeds_answered=3, failed_stage=None) == OK


def test_status_turns_degraded_for_a_long_failing_feed_or_a_stuck_alert_and_down_when_cycles_stop() -> None:
    cycle = CycleRecord("c", NOW - timedelta(minutes=10), NOW - timedelta(minutes=9), OK, feeds_ok=2)
    fresh = FeedHealth("a", False, 1, "timeout", "t", NOW - timedelta(hours=1), NOW + timedelta(minutes=2))
    stale = FeedHealth("b", False, 9, "http_404", "gone", NOW - timedelta(days=2), None)
    muted = FeedHealth("c", True, 9, "http_404", "gone", None, None)
    common = {"now": NOW, "failing_alert_hours": 6.0, "pending_alert_max_seconds": 3600.0}
    assert service_status(last_cycle=cycle, feeds=[fresh, muted], oldest_pending_alert_at=NOW,
                          max_cycle_age_minutes=None, **common).outcome == OK
    degraded = service_status(last_cycle=cycle, feeds=[fresh, stale], oldest_pending_alert_at=None,
                              max_cycle_age_minutes=None, **common)
    assert degraded.outcome == DEGRADED and "b" in degraded.reasons[0] and degraded.exit_code == 1
    stuck = service_status(last_cycle=cycle, feeds=[], oldest_pending_alert_at=NOW - timedelta(hours=2),
                           max_cycle_age_minutes=None, **common)
    assert stuck.outcome == DEGRADED and "waited 2.0 h" in stuck.reasons[0]
    late = service_status(last_cycle=cycle, feeds=[], oldest_pending_alert_at=None, max_cycle_age_minutes=5,
                          **common)
    assert late.outcome == DOWN and late.exit_code == 2
    assert service_status(last_cycle=None, feeds=[], oldest_pending_alert_at=None, max_cycle_age_minutes=None,
                          **common).outcome == DOWN


def test_progress_shows_counts_rate_and_an_eta(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="newswatch.progress")
    progress = StageProgress("embed", "articles", total=1000, every_seconds=0.0)
    progress.started -= 10  # ten seconds in
    progress.advance(250)
    progress.finish("250 articles")
    assert "embed: 250/1000 articles, 25.0/s, ETA 30 s" in caplog.messages[0]
    assert caplog.messages[1].startswith("embed: done in ")


@pytest.mark.slow
def test_run_exits_2_when_every_feed_is_dead_and_status_says_down(tmp_path: Path, prefect_harness: None) -> None:
    port = _closed_port()
    config = _config(tmp_path, {"dead-1": f"http://127.0.0.1:{port}/a.xml", "dead-2": f"http://127.0.0.1:{port}/b.xml"})
    result = CliRunner().invoke(main, ["run", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "Error: no feed could be polled (2 failed, 0 muted, 0 backing off)" in result.output
    status = CliRunner().invoke(main, ["status", "-c", str(config), "--json"])
    assert status.exit_code == 2
    data = json.loads(status.stdout)
    assert data["status"] == "down" and data["last_cycle"]["outcome"] == "down"
    assert data["last_cycle"]["feeds_failed"] == 2 and data["last_cycle"]["duration_seconds"] >= 0
    assert {f["feed"] for f in data["feeds"]["failing"]} == {"dead-1", "dead-2"}
    assert {f["feed"] for f in data["feeds"]["backing_off"]} == {"dead-1", "dead-2"}
    assert data["warehouse"]["size_bytes"] > 0
    # the next run: both feeds are backing off, none could be polled: still down, and the summary says why
    again = CliRunner().invoke(main, ["run", "-c", str(config)])
    assert again.exit_code == 2 and "0 failed, 0 muted, 2 backing off" in again.output


@pytest.mark.slow
def test_run_exits_0_and_status_reports_the_cycle_muted_feeds_and_the_outbox(
        tmp_path: Path, corpus_server: CorpusServer, prefect_harness: None) -> None:
    urls = corpus_server.feed_urls()
    config = _config(tmp_path, {"baltic-wire": urls["baltic-wire"], "world-brief": urls["world-brief"]})
    runner = CliRunner()
    assert runner.invoke(main, ["mute", "world-brief", "-c", str(config)]).exit_code == 1  # nothing to mute yet
    assert not (tmp_path / "nw.duckdb").exists()  # ... and the mistake created no warehouse
    first = runner.invoke(main, ["run", "-c", str(config)])
    assert first.exit_code == 0, first.output
    assert runner.invoke(main, ["mute", "world-brief", "-c", str(config)]).exit_code == 0
    second = runner.invoke(main, ["run", "-c", str(config)])
    assert second.exit_code == 0 and "1 muted" in second.output
    status = runner.invoke(main, ["status", "-c", str(config)])
    assert status.exit_code == 0, status.output
    assert status.stdout.startswith("status: OK (exit 0)")
    assert "muted    world-brief" in status.stdout and "outbox: 0 alert(s) pending" in status.stdout
    data = json.loads(runner.invoke(main, ["status", "-c", str(config), "--format", "json"]).stdout)
    assert data["last_cycle"]["feeds_muted"] == 1 and data["feeds"]["muted"] == ["world-brief"]
    assert data["snapshot"]["age_seconds"] is not None


def _newswatch(args: list[str], api_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(PREFECT_API_URL=api_url)
    return subprocess.run([NEWSWATCH, *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_terminal_shows_each_alert_once_and_progress_only_with_v(
        tmp_path: Path, corpus_server: CorpusServer, prefect_harness: None) -> None:
    from prefect.settings import PREFECT_API_URL

    api_url = str(PREFECT_API_URL.value())
    dead = f"http://127.0.0.1:{_closed_port()}/feed.xml"
    quiet_dir, verbose_dir = tmp_path / "quiet", tmp_path / "verbose"
    quiet_dir.mkdir()
    verbose_dir.mkdir()
    feeds = {"baltic-wire": corpus_server.feed_urls()["baltic-wire"], "dead": dead}
    quiet = _newswatch(["run", "-c", str(_config(quiet_dir, feeds))], api_url)
    assert quiet.returncode == 0, quiet.stderr
    alerts = [line for line in quiet.stdout.splitlines() if line.startswith("NEW INCIDENT")]
    assert alerts
    for line in alerts:  # the Prefect run logger's "ALERT ..." line stays out of the terminal
        subject = line.removeprefix("NEW INCIDENT ")
        assert (quiet.stdout + quiet.stderr).count(subject) == 1, subject
    assert (quiet.stdout + quiet.stderr).count("feed dead failed") == 1
    noise = [line for line in quiet.stderr.splitlines()
             if not line.startswith(("feeds:", "  feed dead failed"))]
    assert noise == [], noise  # no progress bar, no library warning, no Prefect line
    verbose = _newswatch(["-v", "run", "-c", str(_config(verbose_dir, feeds))], api_url)
    assert verbose.returncode == 0, verbose.stderr
    for stage in ("poll: done in", "fetch: done in", "embed (", "judge: done in", "assign: done in"):
        assert stage in verbose.stderr, verbose.stderr
    assert "1 failed, 0 muted, 0 backing off" in verbose.stderr
    assert (verbose.stdout + verbose.stderr).count("feed dead failed") == 1

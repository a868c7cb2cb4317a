"""`newswatch serve` runs cycles on a schedule in one process while analysts query the published snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.corpus_server import CorpusServer
from flows.serve import ServiceRunning, cycle_lock, next_digest_time
from tests.conftest import CORPUS
from tests.outbox_servers import Mailbox, SmtpServer, free_port

READER = r"""
import duckdb, json, sys, time
path, stop_file = sys.argv[1], sys.argv[2]
results = []
import os
while not os.path.exists(stop_file):
    t0 = time.monotonic()
    try:
        con = duckdb.connect(path, read_only=True)
        n = con.execute("select count(*) from v_articles").fetchone()[0]
        con.close()
        results.append({"ok": True, "n": n, "seconds": time.monotonic() - t0})
    except duckdb.IOException as exc:
        results.append({"ok": False, "error": str(exc)[:200], "seconds": time.monotonic() - t0})
    time.sleep(0.05)
print(json.dumps(results))
"""


@pytest.mark.slow  # `newswatch serve` in a subprocess: Prefect and the model
def test_serve_runs_cycles_and_a_digest_while_readers_query_the_snapshot(tmp_path: Path) -> None:
    mail = SmtpServer(free_port(), Mailbox())
    mail.start()
    with CorpusServer(CORPUS / "site") as server:
        feeds = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in server.feed_urls().items())
        config = tmp_path / "c.toml"
        config.write_text(
            f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\n[fetch]\nallow_private_addresses = true\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {mail.port}\nsecurity = "none"\n'
            '[alerts]\nchannels = [{ name = "log", type = "log" }, '
            '{ name = "desk", type = "email", to = ["desk@example.org"], digest = true }]\n'
            f'{feeds}', encoding="utf-8")
        env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
        service = subprocess.Popen(
            [sys.executable, "-m", "flows", "serve", "-c", str(config), "--interval-minutes", "0.1",
             "--max-cycles", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        snapshot = tmp_path / "nw.read.duckdb"
        deadline = time.monotonic() + 600
        while not snapshot.exists() and service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        stop = tmp_path / "stop"
        reader = subprocess.Popen([sys.executable, "-c", READER, str(snapshot), str(stop)], stdout=subprocess.PIPE,
                                  text=True)
        cli_answers = []
        while service.poll() is None:  # the analyst's command answers while cycles run
            answer = subprocess.run([sys.executable, "-m", "flows", "sql", "-c", str(config), "--csv",
                                     "select count(*) as n from v_incidents"], capture_output=True, text=True,
                                    env=env, timeout=120)
            cli_answers.append(answer)
        out, err = service.communicate(timeout=600)
        stop.touch()
        reads = json.loads(reader.communicate(timeout=60)[0])
    assert service.returncode == 0, err
    assert err.count("] cycle ") == 3 and "stopped after 3 cycles" in err
    assert len(reads) > 10
    assert all(r["ok"] for r in reads), [r for r in reads if not r["ok"]][:3]
    assert max(r["seconds"] for r in reads) < 5.0
    assert reads[-1]["n"] == 63
    assert cli_answers and all(a.returncode == 0 and a.stdout.startswith("n\n") for a in cli_answers)
    mail.stop()
    subjects = [str(m["Subject"]) for m in mail.mailbox.messages]
    # the digest due now is yesterday's, a day before this warehouse's first cycle: never sent
    assert sum("Daily digest" in s for s in subjects) == 0, subjects
    assert any("New incident" in s for s in subjects)


def test_a_second_service_on_the_same_warehouse_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "nw.duckdb")
    with cycle_lock(path):
        with pytest.raises(ServiceRunning, match="another newswatch process"):
            with cycle_lock(path):
                pass


def test_the_digest_fires_at_the_next_local_send_time() -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 9, 10, 6, 30, tzinfo=UTC)
    assert next_digest_time(now, "07:00", "UTC") == datetime(2025, 9, 10, 7, 0, tzinfo=UTC)
    assert next_digest_time(now, "07:00", "Europe/Warsaw") == datetime(2025, 9, 11, 5, 0, tzinfo=UTC)

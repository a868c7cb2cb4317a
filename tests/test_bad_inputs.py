"""Every command against a matrix of bad inputs, run as a user runs them (the installed `newswatch` in a
subprocess, so Prefect's console and every library's stderr are seen): each ends with a non-zero exit, exactly
one line starting with `Error:` that names the problem, and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import warehouse.connection
from flows.corpus_server import CorpusServer
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow  # the matrix runs cycles through Prefect's test server (and 60+ CLI processes)

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")


@dataclass
class Case:
    name: str
    argv: list[str]
    says: list[str] = field(default_factory=list)  # the Error line names these
    never_says: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    exit_code: int | None = None  # when the exact code is part of the contract


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def held_warehouse(tmp_path: Path) -> Iterator[Path]:
    """A warehouse another process holds open for writing (as a notebook or a second service would)."""
    path = tmp_path / "held.duckdb"
    with warehouse.connection.open_warehouse(path):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\ncon = duckdb.connect(sys.argv[1])\nprint('ready', "
         "flush=True)\ntime.sleep(600)\n", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield path
    finally:
        holder.kill()
        holder.wait()


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _matrix(tmp: Path, corpus_url: str, held: Path) -> list[Case]:
    dead = _closed_port()
    good_wh = tmp / "good.duckdb"
    with warehouse.connection.open_warehouse(good_wh):
        pass
    base = (f'[warehouse]\npath = "{good_wh}"\nbusy_timeout_seconds = 1\n[fetch]\nallow_private_addresses = true\n'
            f'timeout_seconds = 2\n'
            f'[[feeds]]\nname = "dead"\nurl = "http://127.0.0.1:{dead}/feed.xml"\n')
    good = _write(tmp / "good.toml", base)

    def config(name: str, extra: str, warehouse: Path | None = None, fetch: str = "") -> str:
        text = base if warehouse is None else base.replace(str(good_wh), str(warehouse))
        text = text.replace("[fetch]\n", "[fetch]\n" + fetch)
        return str(_write(tmp / f"{name}.toml", text + extra))

    _write(tmp / "a-directory.toml" / "x", "")
    _write(tmp / "latin1.toml", "# r\xe9sum\xe9\n".encode("latin-1"))
    _write(tmp / "bad-topic.toml", 'name = "x"\n')
    _write(tmp / "not-a-cert.pem", "not a certificate\n")
    (tmp / "empty-model").mkdir()
    corrupt = _write(tmp / "corrupt.duckdb", b"this is not a duckdb file\n" * 500)
    jsonl = _write(tmp / "records.jsonl", '{"id": 1}\nnot json\n')
    gold = _write(tmp / "gold.jsonl", '{"id": 1, "cluster": "a"}\n{"id": 2, "cluster": "a"}\n')
    pred = _write(tmp / "pred.jsonl", '{"id": 1, "incident": "x", "new": true}\n')

    bad_tz = config("bad-tz", '[digest]\ntimezone = "Europe/Warsow"\n')
    every_command = [
        ["run"], ["status"], ["sql", "select 1"], ["incidents"], ["alerts"], ["digest"], ["deliver"],
        ["mute", "x"], ["incident", "dismiss", "x", "--reason", "r"], ["incident", "merge", "a", "b"],
        ["incident", "split", "a", "--articles", "https://example.org/a"],
        ["incident", "add", "--title", "t", "--date", "2025-01-01"], ["serve", "--max-cycles", "1"],
        ["demo"], ["eval", str(CORPUS)],
        ["cluster-file", str(gold), "-o", str(tmp / "clusters.jsonl")],
        ["export", "v_incidents", "-o", str(tmp / "incidents.parquet")],
    ]
    cases = [Case(f"bad time zone: {' '.join(c[:2])}", [*c, "-c", bad_tz], ["digest.timezone", "Europe/Warsow"])
             for c in every_command]
    cases += [
        Case("deploy with a bad time zone", ["deploy", "--pool", "p", "-c", bad_tz], ["digest.timezone"],
             env={"PREFECT_API_URL": f"http://127.0.0.1:{dead}/api"}),
        Case("send_time 25:99", ["run", "-c", config("bad-time", '[digest]\nsend_time = "25:99"\n')],
             ["digest.send_time", "25:99"]),
        Case("include a missing file", ["run", "-c", str(_write(tmp / "inc-missing.toml",
                                                                  'include = ["nope.toml"]\n' + base))],
             ["include[0]", "nope.toml", "no such file"]),
        Case("include a directory", ["run", "-c", str(_write(tmp / "inc-dir2.toml",
                                                               'include = ["a-directory.toml"]\n' + base))],
             ["include[0]", "is a directory"]),
        Case("include a file that is not UTF-8", ["run", "-c", str(_write(tmp / "inc-latin1.toml",
                                                                            'include = ["latin1.toml"]\n' + base))],
             ["include[0]", "not UTF-8"]),
        Case("a config that is not TOML", ["run", "-c", str(_write(tmp / "syntax.toml", "[fetch\n"))], ["(syntax)"]),
        Case("a missing config file", ["run", "-c", str(tmp / "nowhere.toml")], ["nowhere.toml", "no such file"]),
        Case("a missing topic file", ["run", "-c", config("topic-missing", f'[topic]\npath = "{tmp}/none.toml"\n')],
             ["topic.path", "none.toml"]),
        Case("an invalid topic file", ["run", "-c", config("topic-bad", f'[topic]\npath = "{tmp}/bad-topic.toml"\n')],
             ["topic.path", "bad-topic.toml"]),
        Case("an ftp feed", ["run", "-c", config("ftp", '[[feeds]]\nname = "f"\nurl = "ftp://example.org/f.xml"\n')],
             ["feeds.1.url", "ftp://"]),
        Case("a webhook that is a file", ["run", "-c", config(
            "hook", '[alerts]\nchannels = [{ name = "h", type = "webhook", url = "file:///etc/passwd" }]\n')],
             ["alerts.channels.0.url"]),
        Case("a misspelt [cluster] knob", ["run", "-c", config("cluster-typo", "[cluster]\nthresold = 0.3\n")],
             ["cluster.thresold", "unknown key"]),
        Case("a [cluster] knob out of range", ["run", "-c", config("cluster-range", "[cluster]\ntop_k = 0\n")],
             ["cluster", "top_k"]),
        Case("a [cluster] knob of the wrong type", ["cluster-file", str(gold), "-o", str(tmp / "c.jsonl"), "-c",
                                                    config("cluster-type", '[cluster]\nthreshold = "high"\n')],
             ["cluster.threshold"]),
        Case("a bad ca_file in TOML while a NEWSWATCH_FETCH__ variable is set",
             ["run", "-c", config("ca", "", fetch=f'ca_file = "{tmp}/not-a-cert.pem"\n')],
             ["fetch.ca_file", "ca.toml"], ["environment variable"], env={"NEWSWATCH_FETCH__TIMEOUT_SECONDS": "3"}),
        Case("an unknown model", ["run", "-c", config("model", '[embed]\nmodel = "all-MiniLM-L6-v3"\n')],
             ["embed.model", "all-MiniLM-L6-v3"]),
        Case("a misspelt environment variable", ["run", "-c", str(good)], ["NEWSWATCH_FETCH__TIMEOUT_SECS"],
             env={"NEWSWATCH_FETCH__TIMEOUT_SECS": "3"}),
        Case("no feeds", ["run", "-c", str(_write(tmp / "no-feeds.toml", f'[warehouse]\npath = "{good_wh}"\n'))],
             ["feeds"]),
        Case("sql ''", ["sql", "--live", "-c", str(good), ""], ["statement"]),
        Case("sql ';'", ["sql", "--live", "-c", str(good), ";"], ["statement"]),
        Case("sql with a syntax error", ["sql", "--live", "-c", str(good), "selec 1"], ["syntax error"]),
        Case("sql that writes", ["sql", "--live", "-c", str(good), "delete from feeds"], ["read-only"]),
        Case("demo --corpus /missing", ["demo", "--corpus", str(tmp / "missing")], ["missing"]),
        Case("demo --corpus on a directory that is no corpus", ["demo", "--corpus", str(tmp)], ["not a corpus"]),
        Case("deploy with an unreachable Prefect API", ["deploy", "--pool", "p", "-c", str(good)],
             ["Prefect API", f"127.0.0.1:{dead}"], env={"PREFECT_API_URL": f"http://127.0.0.1:{dead}/api"}),
        Case("deploy without a Prefect API", ["deploy", "--pool", "p", "-c", str(good)], ["PREFECT_API_URL"],
             env={"PREFECT_API_URL": ""}),
        Case("mute a feed the warehouse does not know", ["mute", "typo", "-c", str(good)], ["typo"]),
        Case("dismiss an unknown incident", ["incident", "dismiss", "inc-nope", "--reason", "r", "-c", str(good)],
             ["inc-nope"]),
        Case("a digest date that is no date", ["digest", "--date", "2025-13-45", "-c", str(good)], ["--date"]),
        Case("a digest written where it cannot be", ["digest", "--date", "2025-01-01", "--out",
                                                     "/proc/newswatch/d.html", "-c", str(good)], ["/proc/newswatch"]),
        Case("export of a view that does not exist", ["export", "v_nope", "-o", str(tmp / "x.csv"), "--format",
                                                      "csv", "--live", "-c", str(good)], ["v_nope"]),
        Case("eval of a missing corpus", ["eval", str(tmp / "missing")], ["missing"]),
        Case("cluster-file on records that are not JSON lines", ["cluster-file", str(jsonl), "-o",
                                                                 str(tmp / "o.jsonl")], ["records.jsonl"]),
        Case("eval-clusters with ids missing", ["eval-clusters", str(pred), "--gold", str(gold)], ["no prediction"]),
        Case("status without a warehouse", ["status", "-c", config("nowh", "", tmp / "absent.duckdb")],
             ["no warehouse"], exit_code=2),
        Case("deliver without a warehouse", ["deliver", "-c", config("nowh2", "", tmp / "absent2.duckdb")],
             ["no warehouse"]),
        Case("a corrupt warehouse: sql", ["sql", "--live", "-c", config("corrupt1", "", corrupt), "select 1"],
             ["corrupt.duckdb"]),
        Case("a corrupt warehouse: status", ["status", "-c", config("corrupt2", "", corrupt)], ["corrupt.duckdb"],
             exit_code=2),
        Case("a corrupt warehouse: mute", ["mute", "x", "-c", config("corrupt3", "", corrupt)], ["corrupt.duckdb"]),
        Case("a corrupt warehouse: run", ["run", "-c", config("corrupt4", "", corrupt)], ["corrupt.duckdb"],
             exit_code=2),
        Case("a busy warehouse: run", ["run", "-c", config("busy1", "", held)], ["busy"], exit_code=2),
        Case("a busy warehouse: mute", ["mute", "x", "-c", config("busy2", "", held)], ["busy"]),
        Case("a busy warehouse: incidents", ["incidents", "-c", config("busy3", "", held)], ["busy"]),
        Case("every feed dead: run", ["run", "-c", str(good)], ["no feed could be polled"], exit_code=2),
        Case("a model directory that holds no model", ["run", "-c", config(
            "empty-model", f'[embed]\nmodel = "{tmp}/empty-model"\n[[feeds]]\nname = "live"\n'
            f'url = "{corpus_url}/baltic-wire/feed.xml"\n')], ["embed", "empty-model"], exit_code=1),
    ]
    # `newswatch mute` with no config anywhere near: an error, and no warehouse left behind in the directory.
    empty = tmp / "empty-cwd"
    empty.mkdir()
    cases.append(Case("mute with no config in an empty directory", ["mute", "typo"], ["no warehouse"], cwd=empty,
                      env={"NEWSWATCH_WAREHOUSE__PATH": "data/newswatch.duckdb"}))
    return cases


def _run(case: Case, tmp: Path, api_url: str) -> tuple[Case, subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PREFECT_API_URL"))}
    # the session's Prefect test server: a cycle in a subprocess need not start a temporary one (10-60 s here)
    env.update(PREFECT_API_URL=api_url, COLUMNS="200")
    env.update(case.env)
    t0 = time.monotonic()
    done = subprocess.run([NEWSWATCH, *case.argv], cwd=case.cwd or tmp, env=env, capture_output=True, text=True,
                          timeout=600)
    return case, done, time.monotonic() - t0


def test_every_command_fails_on_bad_input_with_one_error_line_and_no_traceback(
        tmp_path: Path, corpus_server: CorpusServer, held_warehouse: Path, prefect_harness: None) -> None:
    from prefect.settings import PREFECT_API_URL

    cases = _matrix(tmp_path, corpus_server.base_url, held_warehouse)
    api_url = str(PREFECT_API_URL.value())
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda case: _run(case, tmp_path, api_url), cases))
    problems = []
    for case, done, _seconds in results:
        output = done.stdout + done.stderr
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        wrong = []
        if done.returncode == 0:
            wrong.append("exit code 0")
        if case.exit_code is not None and done.returncode != case.exit_code:
            wrong.append(f"exit code {done.returncode}, not {case.exit_code}")
        if len(errors) != 1:
            wrong.append(f"{len(errors)} Error: lines")
        if "Traceback" in output:
            wrong.append("a traceback")
        missing = [s for s in case.says if not any(s in e for e in errors)]
        if missing:
            wrong.append(f"the Error line does not name {missing}")
        if any(s in e for s in case.never_says for e in errors):
            wrong.append(f"the Error line names {case.never_says}")
        if wrong:
            problems.append(f"{case.name} (newswatch {' '.join(case.argv)}): {', '.join(wrong)}\n{output[-3000:]}")
    slowest = sorted(results, key=lambda r: -r[2])[:5]
    print("slowest:", "; ".join(f"{case.name} {seconds:.1f} s" for case, _, seconds in slowest))
    assert not problems, "\n\n".join(problems)
    assert not (tmp_path / "empty-cwd" / "data").exists(), "a mistaken `newswatch mute` created a warehouse"

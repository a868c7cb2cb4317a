"""Listing commands share one convention: --format table|csv|json, rich tables, CSV with LF line endings,
statement-by-statement SQL from an argument, a file or stdin, and conflicting flags refused in one line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import warehouse.connection
import warehouse.incidents
import warehouse.outbox
from flows.cli import main
from pipeline.settings import load_settings
from tests.outbox_servers import HOSTILE, raise_outbox, seed_two_incidents

LISTING_COMMANDS = [["sql", "select 1 AS one"], ["incidents"], ["alerts"], ["feeds", "list"]]


def make_config(tmp_path: Path, hostile: bool) -> Path:
    """A warehouse with two incidents (inc-ee dismissed) and a failed webhook alert for inc-pl."""
    path = tmp_path / "c.toml"
    path.write_text(
        f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\nbusy_timeout_seconds = 5\n'
        '[alerts]\nchannels = [{ name = "hook", type = "webhook", url = "http://127.0.0.1:9/hook" }]\n'
        '[[feeds]]\nname = "baltic-wire"\nurl = "http://127.0.0.1:9/feed.xml"\n',
        encoding="utf-8")
    settings = load_settings([path], environ={})
    seed_two_incidents(settings.warehouse.path, hostile=hostile)
    raise_outbox(settings)
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        warehouse.outbox.mark_alert_delivery(con, warehouse.outbox.alert_id("inc-pl", "hook"), status="failed", at=datetime.now(UTC),
                                  error="rejected: hook: http_410 (gone)", next_attempt_at=None)
        warehouse.incidents.dismiss_incident(con, "inc-ee", reason="air show", actor="analyst", at=datetime.now(UTC))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return make_config(tmp_path, hostile=False)


@pytest.fixture
def hostile_config(tmp_path: Path) -> Path:
    """inc-pl's title holds a script tag, CR/LF and a mail header."""
    return make_config(tmp_path, hostile=True)


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    """Exit code and what was printed: stdout exactly as written (CliRunner's .output turns CRLF into LF, which
    would hide the very bug these tests are about), then stderr."""
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout_bytes.decode("utf-8") + result.stderr_bytes.decode("utf-8")


@pytest.mark.parametrize("command", LISTING_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_listing_command_speaks_csv_with_lf_endings_and_json(config: Path, command: list[str]) -> None:
    head, rest = command[:-1] if command[0] == "sql" else command, command[-1:] if command[0] == "sql" else []
    code, out = run(*head, "-c", str(config), "--format", "csv", *rest)
    assert code == 0, out
    assert "\r" not in out and out.endswith("\n") and len(out.splitlines()) >= 2
    code, out = run(*head, "-c", str(config), "--format", "json", *rest)
    assert code == 0, out
    assert isinstance(json.loads(out), list)


def test_incidents_show_their_status_and_filter_by_it(config: Path) -> None:
    code, out = run("incidents", "-c", str(config), "--format", "json")
    assert code == 0, out
    assert {r["incident_id"]: r["status"] for r in json.loads(out)} == {"inc-pl": "open", "inc-ee": "dismissed"}
    code, out = run("incidents", "-c", str(config), "--status", "dismissed", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["incident_id"], r["status"]) for r in rows] == [("inc-ee", "dismissed")]


def test_the_incident_table_prints_a_hostile_title_as_text_on_its_row(hostile_config: Path) -> None:
    code, out = run("incidents", "-c", str(hostile_config), "--status", "open")
    assert code == 0, out
    assert "incident_id" in out and "inc-pl" in out and "open" in out and "\r" not in out
    folded = "".join(line.strip() for line in out.splitlines())  # rich folds a long cell, never drops text
    assert "Drones<script>alert(1)</script>overBcc:" in folded.replace(" ", "")


def test_alerts_show_the_incident_title_and_the_last_error(hostile_config: Path) -> None:
    code, out = run("alerts", "-c", str(hostile_config), "--format", "json")
    assert code == 0, out
    [row] = [r for r in json.loads(out) if r["incident_id"] == "inc-pl"]
    assert row["incident_title"].startswith("Drones <script>") and row["status"] == "failed"
    assert row["last_error"] == "rejected: hook: http_410 (gone)"


def test_every_statement_prints_its_result_in_order(config: Path) -> None:
    code, out = run("sql", "-c", str(config), "--format", "csv", "select 1 AS a; select 2 AS b, 3 AS c")
    assert code == 0, out
    assert out == "a\n1\n\nb,c\n2,3\n"
    code, out = run("sql", "-c", str(config), "--format", "json", "select 1 AS a; select 2 AS b")
    assert json.loads(out) == [{"statement": "select 1 AS a", "rows": [{"a": 1}]},
                               {"statement": "select 2 AS b", "rows": [{"b": 2}]}]
    code, out = run("sql", "-c", str(config), "select 41 + 1 AS answer; select 'x' AS y")
    assert code == 0, out
    assert out.index("-- select 41 + 1 AS answer\n") < out.index("42") < out.index("-- select 'x' AS y\n")


def test_a_failing_statement_is_named_after_the_results_before_it(config: Path) -> None:
    code, out = run("sql", "-c", str(config), "--format", "csv", "select 1 AS a; select * from nowhere; select 3")
    assert code == 1
    assert out.startswith("a\n1\n")
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert errors == [line for line in out.splitlines() if "rror" in line] and len(errors) == 1
    assert "Error: statement 2 of 3 (select * from nowhere): query failed: " in errors[0] and "nowhere" in errors[0]


def test_sql_reads_a_file_or_standard_input(config: Path, tmp_path: Path) -> None:
    script = tmp_path / "q.sql"
    script.write_text("-- the open incidents\nselect count(*) AS n from v_incidents;\n", encoding="utf-8")
    assert run("sql", "-c", str(config), "--format", "csv", "-f", str(script)) == (0, "n\n2\n")
    assert run("sql", "-c", str(config), "--format", "csv", "-", input="select 7 AS seven") == (0, "seven\n7\n")
    assert run("sql", "-c", str(config), "--format", "csv", "-f", "-", input="select 8 AS n") == (0, "n\n8\n")


@pytest.mark.parametrize("args, problem", [
    (["--csv", "--json", "select 1"], "conflicting output formats: csv and json"),
    (["--csv", "--format", "json", "select 1"], "conflicting output formats: csv and json"),
    (["-f", "q.sql", "select 1"], "one of them"),
    ([], "one of them"),
    (["-f", "/nonexistent/q.sql"], "/nonexistent/q.sql: cannot read SQL"),
    (["select 1;;"], None),
    (["   "], "no SQL statement given"),
    (["selec 1"], "syntax error"),
])
def test_bad_sql_input_is_one_error_line(config: Path, args: list[str], problem: str | None) -> None:
    code, out = run("sql", "-c", str(config), *args)
    if problem is None:
        assert code == 0, out
        return
    assert code == 1 and "Traceback" not in out
    assert [line.startswith("Error:") for line in out.strip().splitlines()] == [True], out
    assert problem in out


def test_the_old_csv_and_json_flags_still_work(config: Path) -> None:
    assert run("sql", "-c", str(config), "--csv", "select 1 AS a") == (0, "a\n1\n")
    assert json.loads(run("sql", "-c", str(config), "--json", "select 1 AS a")[1]) == [{"a": 1}]
    assert run("sql", "-c", str(config), "--csv", "--format", "csv", "select 1 AS a") == (0, "a\n1\n")


def test_a_hostile_title_is_not_read_as_table_markup(tmp_path: Path) -> None:
    from flows.cli_output import write_rows

    runner = CliRunner()
    with runner.isolation() as (out, _err, _mixed):
        write_rows(["title"], [("[bold red]not markup[/] \r\nline \x1b[31mtwo\u202e",)], "table")
    printed = out.getvalue().decode()
    assert "[bold red]not markup[/] line [31mtwo" in printed and "\x1b" not in printed and "\u202e" not in printed


def test_csv_keeps_text_verbatim_with_rfc_4180_quoting(hostile_config: Path) -> None:
    code, out = run("sql", "-c", str(hostile_config), "--format", "csv", "select title from incidents where incident_id = 'inc-pl'")
    assert code == 0
    [row] = list(csv.DictReader(io.StringIO(out, newline="")))
    assert row["title"] == HOSTILE

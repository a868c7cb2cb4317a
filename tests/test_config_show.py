"""`newswatch config show` tells which value every setting has and where it came from, and never prints a
secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "feeds.toml").write_text('[[feeds]]\nname = "a"\nurl = "http://127.0.0.1:1/a.xml"\n', encoding="utf-8")
    (tmp_path / "alerts.toml").write_text(
        'include = ["feeds.toml"]\n[fetch]\ntimeout_seconds = 7\n'
        '[alerts]\nchannels = [{ name = "hook", type = "webhook", url = "https://hooks.example.org/T0/B0/tok3n" }]\n',
        encoding="utf-8")
    main_file = tmp_path / "newswatch.toml"
    main_file.write_text('include = ["alerts.toml"]\n[warehouse]\npath = "nw.duckdb"\n'
                         '[[feeds]]\nname = "b"\nurl = "http://127.0.0.1:1/b.xml"\n', encoding="utf-8")
    return main_file


def show(config: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, dict[str, object]]:
    monkeypatch.setenv("NEWSWATCH_FETCH__CONCURRENCY", "3")
    monkeypatch.setenv("NEWSWATCH_SMTP__PASSWORD", "hunter2-secret")
    result = CliRunner().invoke(main, ["config", "show", "-c", str(config), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "tok3n" not in result.output
    return {r["key"]: r for r in json.loads(result.stdout)}


def test_each_value_names_its_source(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = show(config, monkeypatch)
    tmp = config.parent
    assert rows["warehouse.path"] == {"key": "warehouse.path", "value": "nw.duckdb", "source": str(config)}
    assert rows["fetch.timeout_seconds"]["source"] == str(tmp / "alerts.toml")  # set in an included file
    assert rows["fetch.concurrency"] == {"key": "fetch.concurrency", "value": 3,
                                         "source": "environment variable NEWSWATCH_FETCH__CONCURRENCY"}
    assert rows["fetch.max_redirects"] == {"key": "fetch.max_redirects", "value": 5, "source": "default"}
    assert rows["feeds"]["source"] == f"{tmp / 'feeds.toml'} + {config}"  # feed lists add up
    assert rows["feeds"]["value"].startswith("2 feeds")


def test_secrets_and_webhook_tokens_are_masked(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = show(config, monkeypatch)
    assert rows["smtp.password"]["value"] == "********"
    assert rows["smtp.password"]["source"] == "environment variable NEWSWATCH_SMTP__PASSWORD"
    assert rows["webhook.secret"]["value"] is None
    [hook] = rows["alerts.channels"]["value"]
    assert hook["url"] == "https://hooks.example.org/********"


def test_the_table_says_which_files_were_read(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["config", "show", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert f"config files: {config}" in result.stderr
    assert "fetch.timeout_seconds" in result.stdout and "7.0" in result.stdout and "(not set)" in result.stdout


def test_a_bad_config_is_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nprot = 25\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "show", "-c", str(bad)])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        f"Error: {bad}: smtp.prot: unknown key"]

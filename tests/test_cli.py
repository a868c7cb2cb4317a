"""The CLI documents itself: every command has --help with an example and appears in the README."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.settings import PROJECT_ROOT

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"newswatch {command}" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_a_config_typo_is_one_clean_line_and_a_non_zero_exit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[fetch]\nallow_private_adresses = true\n")
    result = CliRunner().invoke(main, ["run", "--config", str(bad)])
    assert result.exit_code == 2  # `run`: down, the cycle could not start
    assert "fetch.allow_private_adresses: unknown key" in result.output
    assert "Traceback" not in result.output


def test_querying_a_missing_warehouse_explains_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[warehouse]\npath = "{tmp_path / "none.duckdb"}"\n')
    result = CliRunner().invoke(main, ["sql", "-c", str(cfg), "select 1"])
    assert result.exit_code == 1 and "newswatch run" in result.output

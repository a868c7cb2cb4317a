"""`newswatch init DIR`: a starter config that documents every setting with its real default, loads as it is
written, and is never written over an existing file."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from flows.cli import main
from pipeline.settings import Settings, load_settings
from pipeline.starter_config import render_starter_config, section_keys, sections

_KEY_LINE = re.compile(r"^# (\s*)(\w+) = (.*)$")


def _uncommented(text: str) -> str:
    """The config with every `# key = value` line of a section key switched on (channel keys stay comments)."""
    return "\n".join(m.group(2) + " = " + m.group(3) if (m := _KEY_LINE.match(line)) and not m.group(1)
                     and not m.group(3).startswith("...") else line for line in text.splitlines()) + "\n"


def test_init_writes_a_config_that_loads_and_config_show_reads(tmp_path: Path) -> None:
    target = tmp_path / "desk"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(main, ["config", "show", "-c", str(target / "newswatch.toml"), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    rows = {row["key"]: row for row in json.loads(shown.stdout)}
    assert rows["feeds"]["source"].startswith(str(target / "feeds.toml"))  # the feed list comes from feeds.toml
    settings = load_settings([target / "newswatch.toml"], environ={})
    assert len(settings.feeds) > 10  # the shipped public feeds to begin with


def test_every_setting_is_documented_with_its_meaning() -> None:
    text = render_starter_config()
    for name, _, kind in sections():
        if name == "feeds":
            continue
        assert re.search(rf"^\[{name}\]$", text, re.MULTILINE), f"[{name}] missing"
        for key in section_keys(kind, name):
            assert key.meaning, f"{name}.{key.name} has no description"
            assert re.search(rf"^# {key.name}[ :]", text[text.index(f"[{name}]"):], re.MULTILINE), f"{name}.{key.name}"


def test_the_documented_defaults_are_the_real_ones() -> None:
    """Switching on every documented `key = default` line changes nothing: the file cannot drift from Settings."""
    data = tomllib.loads(_uncommented(render_starter_config()))
    data.pop("include")
    switched_on = sum(len(v) for v in data.values() if isinstance(v, dict))
    assert switched_on > 60, switched_on
    assert Settings.model_validate(data) == Settings()


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "feeds.toml").write_text("# mine\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("Error:") == 1 and "feeds.toml" in result.output and "not overwritten" in result.output
    assert (tmp_path / "feeds.toml").read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / "newswatch.toml").exists()

"""Analyst feedback (dismiss, merge, split, add, mute) is recorded with who/when/why and respected later."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flows.cli import main

pytestmark = pytest.mark.slow  # feedback on the replayed warehouse (Prefect and the model), then more cycles


def sql(config: Path, query: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["sql", "-c", str(config), "--live", "--json", query])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def copy(replayed: dict[str, Any], tmp_path: Path) -> Path:
    """A private copy of the replayed warehouse and a config pointing at it."""
    src = Path(str(replayed["config"])).read_text(encoding="utf-8")
    old = src.split('path = "', 1)[1].split('"', 1)[0]
    shutil.copy(old, tmp_path / "nw.duckdb")
    config = tmp_path / "c.toml"
    config.write_text(src.replace(old, str(tmp_path / "nw.duckdb")), encoding="utf-8")
    return config


def biggest(config: Path) -> dict[str, Any]:
    return sql(config, "select * from v_incidents order by article_count desc limit 1")[0]


def test_a_dismissed_incident_is_recorded_and_leaves_the_digest(copy: Path, tmp_path: Path) -> None:
    inc = biggest(copy)
    day = str(inc["first_seen_at"])[:10]
    cli("incident", "dismiss", inc["incident_id"], "--reason", "exercise, not a violation", "--by", "desk-1",
        "-c", str(copy))
    assert sql(copy, f"select status from v_incidents where incident_id = '{inc['incident_id']}'")[0]["status"] == "dismissed"
    fb = sql(copy, "select * from v_feedback")
    assert fb[0]["action"] == "dismiss" and fb[0]["actor"] == "desk-1" and fb[0]["reason"] == "exercise, not a violation"
    cli("digest", "-c", str(copy), "--date", day, "--out", str(tmp_path / "d.html"))
    assert inc["title"] not in (tmp_path / "d.txt").read_text(encoding="utf-8")


def test_merging_moves_articles_and_hides_the_folded_incident(copy: Path) -> None:
    rows = sql(copy, "select incident_id, article_count from v_incidents order by first_seen_at limit 2")
    keep, fold = rows[0]["incident_id"], rows[1]["incident_id"]
    cli("incident", "merge", keep, fold, "--reason", "same episode", "-c", str(copy))
    after = {r["incident_id"]: r["article_count"] for r in sql(copy, "select * from v_incidents")}
    assert fold not in after and after[keep] == rows[0]["article_count"] + rows[1]["article_count"]


def test_splitting_makes_a_known_incident_that_does_not_alert(copy: Path) -> None:
    inc = biggest(copy)
    urls = [r["url"] for r in sql(copy, f"select url from v_articles where incident_id = '{inc['incident_id']}' "
                                        "order by published_at desc limit 2")]
    out = cli("incident", "split", inc["incident_id"], "--articles", urls[0], "--articles", urls[1], "-c", str(copy))
    new_id = out.split(" into ")[1].strip()
    new = sql(copy, f"select * from v_incidents where incident_id = '{new_id}'")[0]
    assert new["status"] == "known" and new["article_count"] == 2
    assert sql(copy, f"select count(*) as n from v_alerts where incident_id = '{new_id}'")[0]["n"] == 0


def test_a_known_incident_absorbs_its_reports_without_alerting_and_a_muted_feed_is_not_polled(
    tmp_path: Path, corpus_server, prefect_harness  # type: ignore[no-untyped-def]
) -> None:
    feeds = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in corpus_server.feed_urls().items())
    config = tmp_path / "c.toml"
    config.write_text(f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\n[fetch]\nallow_private_addresses = true\n'
                      f'{feeds}', encoding="utf-8")
    corpus_server.set_clock(datetime.fromisoformat("2025-09-12T00:00:00+00:00"))
    try:
        cli("run", "-c", str(config))
        cli("mute", "world-brief", "--reason", "too noisy", "-c", str(config))
        polled = sql(config, "select last_polled_at from v_feed_health where feed = 'world-brief'")[0]
        cli("incident", "add", "-c", str(config), "--title", "Russian drone crosses into Romania near Tulcea",
            "--date", "2025-09-13T20:00", "--country", "Romania", "--intruder", "drones", "--description",
            "A Russian drone entered Romanian airspace near Tulcea during strikes on Ukraine; F-16 jets tracked it.")
        corpus_server.set_clock(datetime.fromisoformat("2025-09-15T00:00:00+00:00"))
        out = cli("run", "-c", str(config))
    finally:
        corpus_server.set_clock(None)
    assert "Romania" not in out.split("feeds:")[0]  # no alert printed for the known incident
    known = sql(config, "select * from v_incidents where status = 'known'")[0]
    assert known["article_count"] >= 3
    assert sql(config, "select last_polled_at from v_feed_health where feed = 'world-brief'")[0] == polled
    assert {r["action"] for r in sql(config, "select action from v_feedback")} == {"mute", "add"}


def test_a_channel_added_later_does_not_replay_known_incidents(copy: Path) -> None:
    text = copy.read_text(encoding="utf-8")
    assert 'channels = [{ name = "log", type = "log" }, ' in text
    copy.write_text(text.replace('channels = [{ name = "log", type = "log" }, ',
                                 'channels = [{ name = "log", type = "log" }, { name = "desk-2", type = "log" }, ', 1),
                    encoding="utf-8")
    out = cli("run", "-c", str(copy))
    assert "NEW INCIDENT" not in out
    assert sql(copy, "select count(*) as n from v_alerts where channel = 'desk-2'")[0]["n"] == 0

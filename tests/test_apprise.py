"""Apprise channels deliver through the same outbox as e-mail and webhooks, against real receivers on loopback:
exactly one message per new incident across a refused delivery, a crashed deliverer and a retry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import warehouse.connection
import warehouse.outbox
import warehouse.queries
from flows.cli import main
from flows.deliver import LEASE, AppriseChannel, deliver_outbox
from pipeline.errors import ConfigInvalid
from pipeline.settings import PROJECT_ROOT, load_settings
from tests.outbox_servers import (  # noqa: F401
    WebhookReceiver,
    raise_outbox,
    seed_two_incidents,
    webhook_receiver,
)

TITLES = {"inc-pl": "Russian drones enter Polish airspace", "inc-ee": "MiG-31s violate Estonian airspace"}


def write_config(tmp_path: Path, channel: str) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\nbusy_timeout_seconds = 30\n'
                      f'[alerts]\nretry_base_seconds = 1\nchannels = [{channel}]\n', encoding="utf-8")
    return config


def json_channel(receiver: WebhookReceiver) -> str:
    return '{ name = "chat", type = "apprise", url = "' + receiver.url.replace("http://", "json://") + '" }'


def deliver_in_subprocess(config: Path, kill_point: str) -> int:
    """`newswatch deliver --retry-now` in its own process, SIGKILLed at `kill_point` (tests/crash_hook.py)."""
    proc = subprocess.run([sys.executable, "-m", "tests.crash_hook", kill_point, "deliver", "--retry-now",
                           "-c", str(config)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    return proc.returncode


def delivered(receiver: WebhookReceiver, statuses: list[int]) -> list[dict[str, Any]]:
    """The JSON bodies of the requests the receiver answered with 200 (it answers in order from `statuses`)."""
    return [r.json() for r, status in zip(receiver.requests, statuses) if status == 200]


def test_exactly_one_message_per_new_incident_across_a_refusal_a_crash_and_a_retry(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    config = write_config(tmp_path, json_channel(webhook_receiver))
    settings = load_settings([config], environ={})
    seed_two_incidents(settings.warehouse.path)
    raise_outbox(settings)
    answers = [503]  # the receiver is overloaded for the first message, then takes everything
    webhook_receiver.script = [(503, {})]

    first = deliver_outbox(settings)  # refused: the failed row and the one behind it wait for a retry
    assert first.sent == [] and len(first.retrying) == 2 and len(webhook_receiver.requests) == 1

    # a deliverer killed right after claiming the rows: nothing sent, the rows leased to the dead process
    assert deliver_in_subprocess(config, "after:claim_due_alerts:1") == -signal.SIGKILL
    assert len(webhook_receiver.requests) == 1
    # a deliverer killed right after sending and marking the first row: one message out, the other still due
    assert deliver_in_subprocess(config, "after:mark_alert_delivery:1") == -signal.SIGKILL
    answers.append(200)
    assert len(webhook_receiver.requests) == 2

    retry = CliRunner().invoke(main, ["deliver", "--retry-now", "-c", str(config)])  # the retry
    assert retry.exit_code == 0, retry.output
    answers.append(200)
    assert "delivered 1" in retry.output
    again = CliRunner().invoke(main, ["deliver", "--retry-now", "-c", str(config)])
    assert again.exit_code == 0 and "delivered 0, retrying 0, failed 0" in again.output

    messages = delivered(webhook_receiver, answers)
    assert len(webhook_receiver.requests) == 3
    assert sorted(m["title"] for m in messages) == sorted(f"[newswatch] New incident: {t}" for t in [
        "MiG-31s violate Estonian airspace (Estonia · fighter jets)", "Russian drones enter Polish airspace (Poland · drones)"])
    assert all(m["type"] == "info" for m in messages)
    keys = [r.headers["idempotency-key"] for r in webhook_receiver.requests]
    assert keys[0] == keys[1] != keys[2]  # the refused message and its retry carry the same key
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        rows = warehouse.queries.query(con, "SELECT incident_id, status, attempts FROM v_alerts ORDER BY incident_id")[1]
    assert rows == [("inc-ee", "sent", 1), ("inc-pl", "sent", 2)]


def test_a_crash_between_send_and_mark_repeats_the_message_under_the_same_key(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    settings = load_settings([write_config(tmp_path, json_channel(webhook_receiver))], environ={})
    seed_two_incidents(settings.warehouse.path)
    raise_outbox(settings)
    now = datetime.now(UTC)
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:  # the "crashed" deliverer claims, sends one, dies
        items = warehouse.outbox.claim_due_alerts(con, "chat", now, now + LEASE)
    AppriseChannel(settings.alerts.channels[0], {}).send_alert(items[0], now)
    assert deliver_outbox(settings, now=now + timedelta(seconds=1)).sent == []  # leased rows are left alone
    assert len(deliver_outbox(settings, now=now + LEASE + timedelta(seconds=1)).sent) == 2
    keys = [r.headers["idempotency-key"] for r in webhook_receiver.requests]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
    body = webhook_receiver.requests[0].json()["message"]
    assert "Incident inc-" in body and "newswatch incident dismiss inc-" in body


def test_an_ntfy_url_reaches_a_local_ntfy_endpoint(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    url = webhook_receiver.url.replace("http://", "ntfy://").replace("/hook", "/desk-alerts")
    settings = load_settings([write_config(tmp_path, f'{{ name = "ntfy", type = "apprise", url = "{url}" }}')],
                             environ={})
    seed_two_incidents(settings.warehouse.path)
    raise_outbox(settings)
    assert len(deliver_outbox(settings).sent) == 2
    bodies = [r.json() for r in webhook_receiver.requests]
    assert {b["topic"] for b in bodies} == {"desk-alerts"}
    assert any(TITLES["inc-pl"] in b["title"] for b in bodies)


def test_the_url_can_come_from_the_environment(tmp_path: Path, webhook_receiver: WebhookReceiver,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, '{ name = "chat", type = "apprise", url_env = "NW_CHAT_URL" }')
    settings = load_settings([config], environ={})
    seed_two_incidents(settings.warehouse.path)
    raise_outbox(settings)
    unset = deliver_outbox(settings)
    assert unset.channel_errors == {"chat": "environment: NW_CHAT_URL: unset or empty: channel 'chat' reads its "
                                            "Apprise URL from it"}
    monkeypatch.setenv("NW_CHAT_URL", webhook_receiver.url.replace("http://", "json://"))
    assert len(deliver_outbox(settings).sent) == 2


def test_a_url_apprise_cannot_read_is_a_channel_error_naming_it(tmp_path: Path) -> None:
    settings = load_settings([write_config(tmp_path, '{ name = "chat", type = "apprise", url = "nosuch://x/y" }')],
                             environ={})
    with pytest.raises(ConfigInvalid, match="alerts.channels.chat.url: url: Apprise cannot read this URL"):
        AppriseChannel(settings.alerts.channels[0], {})


@pytest.mark.parametrize("channel, problem", [
    ('{ name = "chat", type = "apprise" }', "type 'apprise' needs `url` or `url_env` (one of them)"),
    ('{ name = "chat", type = "apprise", url = "ntfy://h/t", url_env = "X" }', "needs `url` or `url_env`"),
    ('{ name = "chat", type = "webhook", url = "http://h/", url_env = "X" }', "`url_env` is for type 'apprise'"),
])
def test_an_apprise_channel_without_exactly_one_url_fails_at_start(tmp_path: Path, channel: str,
                                                                   problem: str) -> None:
    result = CliRunner().invoke(main, ["config", "show", "-c", str(write_config(tmp_path, channel))])
    assert result.exit_code == 1 and problem in result.output and len(result.output.strip().splitlines()) == 1

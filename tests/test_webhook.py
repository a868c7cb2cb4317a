"""Webhook channel: a real local receiver; signed JSON, retries on 5xx/429/timeouts, no retry on other 4xx."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import warehouse.connection
import warehouse.queries
from flows.deliver import deliver_outbox
from pipeline.errors import WebhookRejected, WebhookUnavailable
from pipeline.retry_after import parse_retry_after
from pipeline.settings import load_settings
from pipeline.webhook import send_webhook
from tests.outbox_servers import (  # noqa: F401
    HOSTILE,
    WebhookReceiver,
    raise_outbox,
    seed_two_incidents,
    webhook_receiver,
)

SECRET = "s3cret-for-tests"


def settings_for(tmp_path: Path, url: str, **alerts: Any) -> Any:
    return load_settings([], environ={"NEWSWATCH_WEBHOOK__SECRET": SECRET}, overrides={
        "warehouse": {"path": str(tmp_path / "nw.duckdb"), "busy_timeout_seconds": 5},
        "alerts": {"channels": [{"name": "hook", "type": "webhook", "url": url}], **alerts},
        "webhook": {"timeout_seconds": 2},
    })


def statuses(settings: Any) -> list[tuple[str, str, int, str | None]]:
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        _, rows = warehouse.queries.query(con, "SELECT incident_id, status, attempts, last_error FROM v_alerts ORDER BY incident_id")
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_each_alert_is_posted_as_signed_json_with_text_and_fields(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    s = settings_for(tmp_path, webhook_receiver.url)
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    report = deliver_outbox(s)
    assert len(report.sent) == 2 and not report.retrying
    first = webhook_receiver.requests[0]
    ts, sig = first.headers["x-newswatch-timestamp"], first.headers["x-newswatch-signature"]
    expected = hmac.new(SECRET.encode(), ts.encode() + b"." + first.body, hashlib.sha256).hexdigest()
    assert sig == f"sha256={expected}"
    payload = first.json()
    assert payload["text"].startswith("*New incident: Russian drones enter Polish airspace* (Poland · drones)")
    nw = payload["newswatch"]
    assert nw["kind"] == "alert" and nw["idempotency_key"] == first.headers["idempotency-key"]
    assert nw["incident"]["country"] == "Poland" and nw["incident"]["source_count"] == 2
    assert [o["feed"] for o in nw["other_sources"]] == ["nordic-times"]
    assert deliver_outbox(s).sent == []  # nothing twice


def test_a_hostile_title_is_inert_in_the_payload(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    s = settings_for(tmp_path, webhook_receiver.url)
    seed_two_incidents(s.warehouse.path, hostile=True)
    raise_outbox(s)
    deliver_outbox(s)
    req = next(r for r in webhook_receiver.requests if b"inc-pl" in r.body)
    assert b"<script>" not in req.body and b"\r\n" not in req.body  # not even inside JSON strings
    payload = req.json()
    assert "<script>" not in payload["text"] and "&lt;script&gt;" in payload["text"]
    assert "\n\nPoland" not in payload["text"] and "Bcc: victim" in payload["text"]  # one line, visible text
    assert payload["newswatch"]["incident"]["title"].startswith("Drones <script>")  # data keeps the truth, flattened
    assert "\r" not in payload["newswatch"]["incident"]["title"]


def test_a_500_is_retried_later_and_delivered_once_with_the_same_key(tmp_path: Path,
                                                                     webhook_receiver: WebhookReceiver) -> None:
    s = settings_for(tmp_path, webhook_receiver.url, retry_base_seconds=60)
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    webhook_receiver.script = [(500, {})]
    now = datetime.now(UTC)
    first = deliver_outbox(s, now=now)
    assert first.sent == [] and len(first.retrying) == 2  # the failed one + the one not tried
    assert deliver_outbox(s, now=now + timedelta(seconds=5)).sent == []  # backoff not over
    second = deliver_outbox(s, now=now + timedelta(minutes=2))
    assert len(second.sent) == 2
    keys = [r.headers["idempotency-key"] for r in webhook_receiver.requests]
    assert len(keys) == 3 and keys[0] == keys[1] and len(set(keys)) == 2
    assert [r[1:3] for r in statuses(s)] == [("sent", 1), ("sent", 2)]  # inc-ee untried first time: 1 attempt


def test_a_410_gives_up_at_once_and_records_why(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    s = settings_for(tmp_path, webhook_receiver.url)
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    webhook_receiver.script = [(410, {}), (410, {})]
    report = deliver_outbox(s, retry_now=True)
    assert len(report.failed) == 2 and not report.retrying
    assert all(st == "failed" and n == 1 and "http_410" in (err or "") for _, st, n, err in statuses(s))
    assert deliver_outbox(s, retry_now=True).sent == [] and len(webhook_receiver.requests) == 2


def test_a_429_waits_at_least_as_long_as_retry_after(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    s = settings_for(tmp_path, webhook_receiver.url, retry_base_seconds=1)
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    webhook_receiver.script = [(429, {"Retry-After": "120"})]
    now = datetime.now(UTC)
    deliver_outbox(s, now=now)
    with warehouse.connection.open_warehouse(s.warehouse.path, read_only=True) as con:
        _, rows = warehouse.queries.query(con, "SELECT min(next_attempt_at) FROM v_alerts")
    assert rows[0][0] >= now + timedelta(seconds=119)
    assert deliver_outbox(s, now=now + timedelta(seconds=60)).sent == []
    assert len(deliver_outbox(s, now=now + timedelta(seconds=121)).sent) == 2


def test_a_timeout_is_transient(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.delay_seconds = 1.0
    with httpx.Client(timeout=0.2) as client, pytest.raises(WebhookUnavailable, match="timeout"):
        send_webhook(client, "hook", webhook_receiver.url, b"{}", {})


def test_a_redirect_is_not_followed(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script = [(301, {"Location": "http://127.0.0.1:9/elsewhere"})]
    with httpx.Client(timeout=2) as client, pytest.raises(WebhookRejected, match="http_301"):
        send_webhook(client, "hook", webhook_receiver.url, json.dumps({}).encode(), {})


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2025, 9, 10, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after("Wed, 10 Sep 2025 12:02:00 GMT", now) == 120
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None

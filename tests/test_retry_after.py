"""One Retry-After reader for feeds, pages and webhooks: ASCII digits or an HTTP date; anything else is ignored,
and no value ever raises outside the newswatch error tree."""

from __future__ import annotations

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from pipeline import web
from pipeline.errors import FeedUnavailable, WebhookUnavailable
from pipeline.retry_after import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from pipeline.webhook import send_webhook
from tests.hostile_server import HostileServer
from tests.outbox_servers import WebhookReceiver, webhook_receiver  # noqa: F401

NOW = datetime(2025, 9, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value, seconds", [
    ("30", 30.0),
    (" 120 ", 120.0),
    ("0", 0.0),
    ("Wed, 10 Sep 2025 12:02:00 GMT", 120.0),
    ("Wednesday, 10-Sep-25 12:02:00 GMT", 120.0),  # the obsolete RFC 850 form
    ("Wed, 10 Sep 2025 11:00:00 GMT", 0.0),  # a date already past: no wait
    ("99999999999999999999", MAX_RETRY_AFTER_SECONDS),  # more than a day counts as a day
    ("Sat, 01 Jan 2999 00:00:00 GMT", MAX_RETRY_AFTER_SECONDS),
])
def test_digits_and_http_dates_are_read(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", ["²", "٣", "１２", "1e3", "-5", "+5", "1.5", "inf", "nan", "soon", "",
                                   "Wed, 99 Sep 2025 12:02:00 GMT", "Mon, 10 Sep 10000 12:00:00 GMT",
                                   "\x1b[31m30", "30 seconds", None])
def test_anything_else_is_ignored_without_raising(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def _busy(value: str):  # type: ignore[no-untyped-def]
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(503)
        h.send_header("Retry-After", value)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handler


@pytest.mark.parametrize("value, seconds", [("²", None), ("1e3", None), ("600", 600.0)])
def test_a_feed_or_page_answering_503_keeps_only_a_readable_retry_after(value: str, seconds: float | None) -> None:
    with HostileServer() as server:
        server.routes["/busy"] = _busy(value)
        with web.make_client(3, "t") as client, pytest.raises(FeedUnavailable) as info:
            web.fetch(client, server.url("/busy"), max_bytes=1000, timeout_seconds=3, max_redirects=0,
                      allow_private_addresses=True)
    assert info.value.reason == "http_503" and info.value.retry_after_seconds == seconds


@pytest.mark.parametrize("value, seconds", [("²", None), ("-5", None), ("90", 90.0)])
def test_a_webhook_answering_429_keeps_only_a_readable_retry_after(webhook_receiver: WebhookReceiver,  # noqa: F811
                                                                   value: str, seconds: float | None) -> None:
    webhook_receiver.script = [(429, {"Retry-After": value})]
    with httpx.Client(timeout=2) as client, pytest.raises(WebhookUnavailable) as info:
        send_webhook(client, "hook", webhook_receiver.url, b"{}", {})
    assert info.value.reason == "http_429" and info.value.retry_after_seconds == seconds

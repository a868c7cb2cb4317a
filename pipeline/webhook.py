"""Webhook: build the JSON body of an alert or digest (pure), sign it, POST it with a client passed in.

The body has a Slack/Mattermost/Teams-compatible `text` plus a structured `newswatch` object. httpx errors
are translated here: WebhookUnavailable (timeout, connection error, 5xx, 429, keeping Retry-After) or
WebhookRejected (any other non-2xx, redirects included: a hook that moved is a config change).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from pipeline.alerts import AlertDetail, alert_subject, summarize
from pipeline.digest import DigestData, digest_subject
from pipeline.errors import WebhookRejected, WebhookUnavailable
from pipeline.retry_after import parse_retry_after

SIGNATURE_HEADER = "X-Newswatch-Signature"
TIMESTAMP_HEADER = "X-Newswatch-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def slack_escape(value: str) -> str:
    """Escape &, < and > as Slack's message formatting asks, so feed text can't form links, mentions or tags."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON with <, > and & written as \\u escapes: the bytes never contain a tag even if a
    receiver pastes them into HTML, while the decoded strings keep the original text."""
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("utf-8")


def alert_payload(detail: AlertDetail, idempotency_key: str) -> dict[str, Any]:
    a = detail.alert
    tags = " · ".join(t for t in (a.country, a.intruder) if t)
    text = (f"*New incident: {slack_escape(_one_line(a.incident_title))}*" + (f" ({slack_escape(tags)})" if tags else "")
            + f"\nFirst report: {slack_escape(_one_line(a.article_title))} — {slack_escape(a.feed)}, "
              f"{a.published_at:%Y-%m-%d %H:%M} UTC\n{slack_escape(_one_line(a.article_url))}"
            + f"\nSources so far: {detail.source_count}")
    return {
        "text": text,
        "newswatch": {
            "kind": "alert",
            "idempotency_key": idempotency_key,
            "subject": alert_subject(a),
            "incident": {"id": a.incident_id, "title": _one_line(a.incident_title), "country": a.country,
                         "intruder": a.intruder, "source_count": detail.source_count},
            "first_report": {"title": _one_line(a.article_title), "url": a.article_url, "feed": a.feed,
                             "published_at": a.published_at.astimezone(UTC).isoformat(),
                             "summary": summarize(detail.first_text)},
            "other_sources": [{"title": _one_line(s.title), "url": s.url, "feed": s.feed,
                               "published_at": s.published_at.astimezone(UTC).isoformat()}
                              for s in detail.other_sources],
        },
    }


def digest_payload(data: DigestData, text: str, idempotency_key: str) -> dict[str, Any]:
    def inc(i: Any) -> dict[str, Any]:
        return {"id": i.incident_id, "title": _one_line(i.title), "country": i.country, "intruder": i.intruder,
                "first_seen_at": i.first_seen_at.astimezone(UTC).isoformat(), "first_url": i.first_url,
                "article_count": i.article_count, "source_count": i.source_count, "new_articles": i.new_articles,
                "summary": i.summary, "new_sources": list(i.new_sources)}

    return {
        "text": slack_escape(text),
        "newswatch": {
            "kind": "digest", "idempotency_key": idempotency_key, "subject": digest_subject(data),
            "day": data.day.isoformat(), "timezone": data.timezone,
            "new_incidents": [inc(i) for i in data.new_incidents],
            "grown_incidents": [inc(i) for i in data.grown_incidents],
            "articles_seen": data.articles_seen, "relevant_articles": data.relevant_articles,
        },
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body); the receiver recomputes and compares."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def request_headers(body: bytes, idempotency_key: str, secret: str | None, now: datetime) -> dict[str, str]:
    """Content type, idempotency key (the same on every attempt) and, with a secret, timestamp + signature."""
    headers = {"Content-Type": "application/json; charset=utf-8", IDEMPOTENCY_HEADER: idempotency_key,
               "User-Agent": "newswatch-webhook/1"}
    if secret:
        ts = str(int(now.timestamp()))
        headers[TIMESTAMP_HEADER] = ts
        headers[SIGNATURE_HEADER] = sign(secret, ts, body)
    return headers


def send_webhook(client: httpx.Client, channel: str, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body` to `url`; returns the 2xx status. Raises WebhookUnavailable (timeout, connection error, 5xx,
    429; retry_after_seconds from Retry-After) or WebhookRejected (other status, redirects not followed)."""
    try:
        resp = client.post(url, content=body, headers=headers, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise WebhookUnavailable(channel, "timeout", str(exc) or type(exc).__name__) from exc
    except httpx.TransportError as exc:
        raise WebhookUnavailable(channel, "connection_error", str(exc) or type(exc).__name__) from exc
    status = resp.status_code
    if 200 <= status < 300:
        return status
    detail = " ".join(resp.text[:200].split())
    if status == 429 or status >= 500:
        raise WebhookUnavailable(channel, f"http_{status}", detail,
                                 retry_after_seconds=parse_retry_after(resp.headers.get("retry-after"), datetime.now(UTC)))
    raise WebhookRejected(channel, f"http_{status}", detail)

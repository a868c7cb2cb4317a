"""Apprise channels (Teams, Telegram, Matrix, ntfy, Discord, Slack, Gotify, a generic json:// endpoint, ...):
a short plain-text message for an alert (pure), and `send_notification`, which hands one message to Apprise.

Apprise reports only success or failure (the reason goes to its log, captured here), so every failure is
NotifyUnavailable: transient, retried by the outbox up to alerts.max_attempts. A URL Apprise cannot read is
ConfigInvalid. For json://, xml:// and form:// URLs the message carries an Idempotency-Key header (the alert or
digest id, the same on every attempt), as webhooks do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from pipeline.alerts import AlertDetail, alert_subject
from pipeline.errors import ConfigInvalid, NotifyUnavailable
from pipeline.settings import AlertChannel

IDEMPOTENCY_HEADER = "Idempotency-Key"
_HEADER_SCHEMES = {"json", "jsons", "xml", "xmls", "form", "forms"}  # Apprise's `+Header=value` URL arguments


def _one_line(value: str) -> str:
    return " ".join(value.split())


def channel_url(channel: AlertChannel, environ: Mapping[str, str]) -> str:
    """The Apprise URL of a channel: `url`, or the environment variable named by `url_env` (tokens stay out of
    TOML files). Raises ConfigInvalid when the variable is unset or Apprise cannot read the URL."""
    if channel.url_env:
        url = environ.get(channel.url_env, "").strip()
        if not url:
            raise ConfigInvalid("environment", channel.url_env,
                                f"unset or empty: channel {channel.name!r} reads its Apprise URL from it")
    else:
        url = channel.url or ""
    import apprise

    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        where = f"${channel.url_env}" if channel.url_env else "url"
        scheme = urlsplit(url).scheme or "(none)"
        raise ConfigInvalid("config", f"alerts.channels.{channel.name}.{'url_env' if channel.url_env else 'url'}",
                            f"{where}: Apprise cannot read this URL (scheme {scheme!r}); see Apprise's list of "
                            "services, e.g. ntfy://, tgram://, workflows://, matrix://, discord://, json://")
    return url


def with_idempotency_key(url: str, key: str) -> str:
    """`url` with an Idempotency-Key header argument where the Apprise service sends custom headers."""
    if urlsplit(url).scheme.lower() not in _HEADER_SCHEMES:
        return url
    return f"{url}{'&' if '?' in url else '?'}{quote('+' + IDEMPOTENCY_HEADER)}={quote(key)}"


def alert_notification(detail: AlertDetail) -> tuple[str, str]:
    """(title, body) of an alert as a chat message: plain text (Apprise escapes it for HTML/Markdown
    services), the first report with its link, and the incident id with the command to dismiss it."""
    a = detail.alert
    tags = " · ".join(t for t in (a.country, a.intruder) if t)
    lines = [
        f"First report: {_one_line(a.article_title)} ({_one_line(a.feed)}, {a.published_at:%Y-%m-%d %H:%M} UTC)",
        _one_line(a.article_url),
        (f"{tags} · " if tags else "") + f"sources so far: {detail.source_count}",
        f"Incident {a.incident_id} (not one? newswatch incident dismiss {a.incident_id} --reason \"...\")",
    ]
    return alert_subject(a), "\n".join(lines)


def send_notification(url: str, channel: str, title: str, body: str, idempotency_key: str) -> None:
    """Send one plain-text message through Apprise. Raises NotifyUnavailable with what Apprise logged."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(with_idempotency_key(url, idempotency_key)):
        raise ConfigInvalid("config", f"alerts.channels.{channel}", "Apprise cannot read the channel's URL")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        ok = notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        said = [line for line in log.getvalue().splitlines() if line.strip()]  # type: ignore[union-attr]
    if not ok:
        detail = _one_line(" / ".join(said[-2:]))[:300] or "Apprise reported a failure"
        raise NotifyUnavailable(channel, "notify_failed", detail)

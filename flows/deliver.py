"""Delivery stage: queue the due daily digest, then send what the outbox holds, channel by channel.
Composition only: claims rows from the warehouse, builds messages with pipeline.mailer/webhook/notify, records outcomes.

Each row is marked right after its own send, so a crash can repeat at most the message in flight; that repeat
carries the same Message-ID / Idempotency-Key (docs/alerts.md). Channels are independent: an error on one
(even a config error) is recorded and the others still run.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE

import warehouse.digest
import warehouse.outbox
from flows import resources
from flows.stages import run_logger
from pipeline import digest as digest_stage
from pipeline import mailer, notify, webhook
from pipeline.errors import DeliveryFailed, NewswatchError
from pipeline.outbox import (
    OutboxAlert,
    OutboxDigest,
    alert_message_id,
    decide_outcome,
    digest_day_due,
    digest_id,
    digest_message_id,
)
from pipeline.proxies import ProxyRoutes
from pipeline.settings import AlertChannel, Settings

LEASE = timedelta(minutes=10)  # a claimed row not marked within this (crash) is sent again


def _now() -> datetime:
    return datetime.now(UTC)


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    return run_logger("newswatch.deliver")


_wh = resources.warehouse  # with the service's DuckDB limits, as the cycle's stages


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)        # "channel: alert_id" / "channel: digest DAY"
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    channel_errors: dict[str, str] = field(default_factory=dict)  # channel -> why it could not run at all
    digests_queued: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"delivered {len(self.sent)}, retrying {len(self.retrying)}, failed {len(self.failed)}"
                + (f", digests queued {len(self.digests_queued)}" if self.digests_queued else "")
                + "".join(f"; channel {c}: {e}" for c, e in self.channel_errors.items()))


class ChannelSender(Protocol):
    def send_alert(self, item: OutboxAlert, now: datetime) -> None: ...
    def send_digest(self, item: OutboxDigest, now: datetime) -> None: ...
    def close(self) -> None: ...


class EmailChannel:
    def __init__(self, settings: Settings, channel: AlertChannel) -> None:
        self.settings = settings
        self.channel = channel
        self.smtp = mailer.SmtpSender(settings.smtp, channel.name)

    def alert_message(self, item: OutboxAlert, now: datetime) -> EmailMessage:
        return mailer.build_alert_email(item.detail, sender=self.settings.smtp.sender, to=self.channel.to,
                                        message_id=alert_message_id(item.detail.alert.alert_id), date=now,
                                        timezone=self.settings.digest.timezone)

    def send_alert(self, item: OutboxAlert, now: datetime) -> None:
        self.smtp.send(self.alert_message(item, now), self.channel.to)

    def send_digest(self, item: OutboxDigest, now: datetime) -> None:
        msg = mailer.build_email(subject=item.subject, text=item.body_text, html=item.body_html,
                                 sender=self.settings.smtp.sender, to=self.channel.to, message_id=item.message_id,
                                 idempotency_key=item.digest_id, date=now)
        self.smtp.send(msg, self.channel.to)

    def close(self) -> None:
        self.smtp.close()


def _webhook_client(settings: Settings, url: str) -> httpx.Client:
    """The httpx client of one webhook: through the proxy that fetch.proxy / HTTPS_PROXY / NO_PROXY choose for
    its URL (the same choice as for feeds and pages), trusting fetch.ca_file's authorities besides certifi's."""
    proxy = ProxyRoutes.from_settings(settings.fetch.proxy, os.environ).url_for(url)
    verify: Any = True
    if settings.fetch.ca_file:
        verify = httpx.create_ssl_context()
        verify.load_verify_locations(cafile=settings.fetch.ca_file)
    # trust_env off: the proxy was chosen above (NO_PROXY included), not again by httpx from the environment
    return httpx.Client(timeout=settings.webhook.timeout_seconds, proxy=proxy, verify=verify, trust_env=False)


class WebhookChannel:
    def __init__(self, settings: Settings, channel: AlertChannel, client: httpx.Client | None = None) -> None:
        self.channel = channel
        self.url = channel.url or ""
        secret = settings.webhook.secret
        self.secret = secret.get_secret_value() if secret is not None else None
        self.client = client or _webhook_client(settings, self.url)
        self._own_client = client is None

    def _post(self, body: bytes, key: str, now: datetime) -> None:
        webhook.send_webhook(self.client, self.channel.name, self.url, body,
                             webhook.request_headers(body, key, self.secret, now))

    def send_alert(self, item: OutboxAlert, now: datetime) -> None:
        key = item.detail.alert.alert_id
        self._post(webhook.encode_body(webhook.alert_payload(item.detail, key)), key, now)

    def send_digest(self, item: OutboxDigest, now: datetime) -> None:
        self._post(item.payload_json.encode("utf-8"), item.digest_id, now)

    def close(self) -> None:
        if self._own_client:
            self.client.close()


class AppriseChannel:
    """Teams, Telegram, Matrix, ntfy, Discord, ... through Apprise: a plain-text message per alert or digest."""

    def __init__(self, channel: AlertChannel, environ: Mapping[str, str]) -> None:
        self.channel = channel
        self.url = notify.channel_url(channel, environ)

    def send_alert(self, item: OutboxAlert, now: datetime) -> None:
        title, body = notify.alert_notification(item.detail)
        notify.send_notification(self.url, self.channel.name, title, body, item.detail.alert.alert_id)

    def send_digest(self, item: OutboxDigest, now: datetime) -> None:
        notify.send_notification(self.url, self.channel.name, item.subject, item.body_text, item.digest_id)

    def close(self) -> None:
        pass


def open_channel(settings: Settings, channel: AlertChannel) -> ChannelSender:
    """The sender for an email, webhook or apprise channel. Raises ConfigInvalid (e.g. login without a password,
    an Apprise URL Apprise cannot read)."""
    if channel.type == "email":
        return EmailChannel(settings, channel)
    if channel.type == "webhook":
        return WebhookChannel(settings, channel)
    if channel.type == "apprise":
        return AppriseChannel(channel, os.environ)
    raise ValueError(f"channel {channel.name!r} of type {channel.type!r} is not delivered through the outbox")


def read_day_digest(con: Any, settings: Settings, day: date) -> Any:
    """The DigestData of local day `day` (digest.timezone): its warehouse rows, built with the configured list
    size, silent-feed age and failing-feed age."""
    tz = settings.digest.timezone
    start, end = digest_stage.day_window(day, tz)
    activity_start, _ = digest_stage.day_window(day - timedelta(days=digest_stage.ACTIVITY_DAYS - 1), tz)
    rows = warehouse.digest.read_digest_data(con, start, end, activity_start)
    return digest_stage.build_digest(rows, day, tz, silent_after_days=settings.digest.silent_after_days,
                                     max_articles=settings.digest.top_articles,
                                     failing_for_hours=settings.fetch.failing_alert_hours)


def queue_digest(settings: Settings, day: date, now: datetime, *, requeue_failed: bool = False,
                 channels: list[AlertChannel] | None = None) -> list[str]:
    """Render the digest of `day` once and queue it on every digest channel that has no row for that day
    (a sent digest is never queued again; with requeue_failed a failed one becomes pending); a day before the
    first cycle's is never queued. Returns the channels queued."""
    channels = [c for c in (channels or settings.alerts.channels) if c.digest]
    if not channels:
        return []
    queued = []
    with _wh(settings) as con:
        todo = []
        for c in channels:
            status = warehouse.outbox.read_digest_status(con, day, c.name)
            if status is None:
                todo.append(c)
            elif status[0] == "failed" and requeue_failed and warehouse.outbox.requeue_failed_digest(con, day, c.name):
                queued.append(c.name)
        if todo:
            data = read_day_digest(con, settings, day)
            if data.before_first_cycle:  # the feeds' leftovers from before the install: not a day's news
                _logger().info("digest %s not queued: before the first cycle (%s)", day, data.first_cycle_day)
                return queued
            text = digest_stage.render_text(data)
            html = digest_stage.render_html(data)
            subject = digest_stage.digest_subject(data)
            for c in todo:
                did = digest_id(day, c.name)
                payload = webhook.encode_body(webhook.digest_payload(data, text, did)).decode("utf-8")
                row = OutboxDigest(did, day, c.name, digest_message_id(did), subject, text, html, payload, 0)
                if warehouse.outbox.insert_digest(con, row, now):
                    queued.append(c.name)
    return queued


def _record(settings: Settings, kind: str, key: str, error: DeliveryFailed | None, attempts: int, now: datetime,
            rng: random.Random, report: DeliveryReport, label: str) -> Any:
    outcome = decide_outcome(error, attempts, now, settings.alerts, rng)
    with _wh(settings) as con:
        mark = warehouse.outbox.mark_alert_delivery if kind == "alert" else warehouse.outbox.mark_digest_delivery
        mark(con, key, status=outcome.status, at=now, error=outcome.error, next_attempt_at=outcome.next_attempt_at)
    {"sent": report.sent, "pending": report.retrying, "failed": report.failed}[outcome.status].append(label)
    if error is not None:
        _logger().warning("%s %s: %s -> %s", kind, label, error, outcome.status)
    return outcome


def deliver_channel(settings: Settings, channel: AlertChannel, sender: ChannelSender, now: datetime,
                    report: DeliveryReport, rng: random.Random, digest_day: date | None = None,
                    due_by: datetime | None = None) -> None:
    """Send the due digests and alerts of one channel. A transient error stops the channel for this pass:
    the rows not tried yet are given back (no attempt counted) to be tried with the failed one."""
    with _wh(settings) as con:
        digests = warehouse.outbox.claim_due_digests(con, channel.name, due_by or now, now + LEASE)
        alerts = warehouse.outbox.claim_due_alerts(con, channel.name, due_by or now, now + LEASE)
    if digest_day is not None:
        skip = [d for d in digests if d.day != digest_day]
        digests = [d for d in digests if d.day == digest_day]
        with _wh(settings) as con:
            warehouse.outbox.release_digests(con, [d.digest_id for d in skip], None, "released: not this --date")
    queue: list[tuple[str, Any]] = [("digest", d) for d in digests] + [("alert", a) for a in alerts]
    for n, (kind, item) in enumerate(queue):
        error: DeliveryFailed | None = None
        try:
            if kind == "alert":
                sender.send_alert(item, now)
            else:
                sender.send_digest(item, now)
        except DeliveryFailed as exc:
            error = exc
        key = item.detail.alert.alert_id if kind == "alert" else item.digest_id
        label = f"{channel.name}: {key}" if kind == "alert" else f"{channel.name}: digest {item.day}"
        outcome = _record(settings, kind, key, error, item.attempts, now, rng, report, label)
        if outcome.status == "pending":
            rest = queue[n + 1:]
            note = f"not tried: channel unavailable ({error})"
            with _wh(settings) as con:
                warehouse.outbox.release_alerts(con, [i.detail.alert.alert_id for k, i in rest if k == "alert"],
                                     outcome.next_attempt_at, note)
                warehouse.outbox.release_digests(con, [i.digest_id for k, i in rest if k == "digest"],
                                      outcome.next_attempt_at, note)
            report.retrying += [f"{channel.name}: (not tried) {k}" for k, _ in rest]
            return


def delivery_channels(settings: Settings) -> list[Any]:
    """The channels this stage delivers (e-mail, webhook, apprise); the log channel is printed by the alert stage."""
    return [c for c in settings.alerts.channels if c.type != "log"]


def deliver_outbox(settings: Settings, *, now: datetime | None = None, schedule_digest: bool = True,
                   digest_day: date | None = None, senders: dict[str, ChannelSender] | None = None,
                   rng: random.Random | None = None, retry_now: bool = False) -> DeliveryReport:
    """One delivery pass over every email/webhook/apprise channel: queue the digest due at `now` (schedule_digest),
    then send due digests and alerts. `digest_day` limits digests to that day (newswatch digest --send).
    `retry_now` also takes pending rows whose backoff has not run out (and crashed claims).
    `senders` replaces a channel's sender by name (tests). Never raises for a channel's failure; raises
    WarehouseBusy when the warehouse stays held."""
    now = now or _now()
    rng = rng or random.Random()
    report = DeliveryReport()
    channels = delivery_channels(settings)
    if not channels:
        return report
    if schedule_digest and any(c.digest for c in channels):
        day = digest_day_due(now, settings.digest.send_time, settings.digest.timezone)
        report.digests_queued += [f"{c}: {day}" for c in queue_digest(settings, day, now)]
    for channel in channels:
        try:
            sender = (senders or {}).get(channel.name) or open_channel(settings, channel)
        except NewswatchError as exc:
            report.channel_errors[channel.name] = str(exc)
            _logger().error("channel %s cannot deliver: %s", channel.name, exc)
            continue
        try:
            deliver_channel(settings, channel, sender, now, report, rng, digest_day,
                            due_by=now + timedelta(days=3650) if retry_now else None)
        finally:
            sender.close()
    return report


@task(name="deliver-outbox", cache_policy=NO_CACHE)
def deliver_stage(settings: Settings) -> DeliveryReport:
    """The delivery pass as a Prefect task (end of every monitor cycle)."""
    report = deliver_outbox(settings)
    if report.sent or report.retrying or report.failed or report.channel_errors or report.digests_queued:
        _logger().info("outbox: %s", report.summary())
    return report

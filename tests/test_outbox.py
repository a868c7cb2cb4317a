"""Outbox rules (pure): backoff (pipeline/retry.py), outcomes, channel filters, stable ids, which digest is due; channel config."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import ConfigInvalid, SmtpRejected, SmtpUnavailable, WebhookUnavailable
from pipeline.outbox import (
    IncidentFacts,
    alert_message_id,
    channel_wants,
    decide_outcome,
    digest_day_due,
    digest_id,
)
from pipeline.retry import for_outbox
from pipeline.settings import AlertChannel, AlertSettings, load_settings

RETRY = AlertSettings(retry_base_seconds=30, retry_max_seconds=3600, max_attempts=5)


def retry_delay(attempts: int, settings: AlertSettings, rng: random.Random,
                retry_after_seconds: float | None = None) -> timedelta:
    return for_outbox(settings).delay(attempts, retry_after_seconds, rng)
NOW = datetime(2025, 9, 10, 12, tzinfo=UTC)


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_the_retry_delay_doubles_within_jitter_and_never_passes_the_cap(attempts: int, seed: int) -> None:
    delay = retry_delay(attempts, RETRY, random.Random(seed)).total_seconds()
    ceiling = min(30 * 2 ** (attempts - 1), 3600)
    assert ceiling / 2 <= delay <= ceiling


def test_jitter_spreads_rows_that_failed_together() -> None:
    rng = random.Random(1)
    assert len({retry_delay(4, RETRY, rng) for _ in range(20)}) > 15


def test_a_longer_retry_after_is_honoured() -> None:
    assert retry_delay(1, RETRY, random.Random(0), retry_after_seconds=600) == timedelta(seconds=600)
    assert retry_delay(1, RETRY, random.Random(0), retry_after_seconds=1) <= timedelta(seconds=30)


def test_a_transient_error_retries_until_max_attempts_then_fails() -> None:
    err = SmtpUnavailable("desk", "connection_error", "refused")
    out = decide_outcome(err, 0, NOW, RETRY, random.Random(0))
    assert out.status == "pending" and out.next_attempt_at is not None and out.next_attempt_at > NOW
    last = decide_outcome(err, 4, NOW, RETRY)
    assert last.status == "failed" and "gave up after 5 attempts" in (last.error or "")


def test_a_permanent_error_fails_at_once_and_says_why() -> None:
    out = decide_outcome(SmtpRejected("desk", "smtp_550", "no such user"), 0, NOW, RETRY)
    assert (out.status, out.next_attempt_at) == ("failed", None) and "smtp_550" in (out.error or "")


def test_a_429_retry_after_sets_the_next_attempt() -> None:
    out = decide_outcome(WebhookUnavailable("hook", "http_429", retry_after_seconds=900), 0, NOW, RETRY)
    assert out.next_attempt_at is not None and out.next_attempt_at >= NOW + timedelta(seconds=900)


def test_success_is_sent() -> None:
    assert decide_outcome(None, 3, NOW, RETRY).status == "sent"


def facts(country: str | None = "Poland", intruder: str | None = "drones", sources: int = 1) -> IncidentFacts:
    return IncidentFacts("i1", country, intruder, sources)


def test_an_unfiltered_channel_takes_every_incident() -> None:
    channel = AlertChannel(name="all")
    assert channel_wants(channel, facts()) and channel_wants(channel, facts(None, None))


def test_a_channel_filters_by_country_intruder_and_sources() -> None:
    channel = AlertChannel(name="pl", countries=["poland", "Lithuania"], intruders=["drone"], min_sources=2)
    assert channel_wants(channel, facts(sources=2))
    assert not channel_wants(channel, facts(sources=1))  # not yet: it will be raised when a second feed reports it
    assert not channel_wants(channel, facts(country="Estonia", sources=3))
    assert not channel_wants(channel, facts(country=None, sources=3))
    assert not channel_wants(channel, facts(intruder="fighter jets", sources=3))
    assert channel_wants(AlertChannel(name="jets", intruders=["jet"]), facts(intruder="fighter jets"))


def test_ids_are_stable_and_differ_per_channel_and_day() -> None:
    assert alert_message_id("abc") == alert_message_id("abc") == "<abc.alert@newswatch>"
    assert digest_id(date(2025, 9, 10), "mail") == digest_id(date(2025, 9, 10), "mail")
    assert digest_id(date(2025, 9, 10), "mail") != digest_id(date(2025, 9, 10), "hook")
    assert digest_id(date(2025, 9, 10), "mail") != digest_id(date(2025, 9, 11), "mail")


def test_yesterdays_digest_is_due_from_send_time_in_the_digest_time_zone() -> None:
    # 07:00 in Warsaw (UTC+2 in September) is 05:00 UTC
    assert digest_day_due(datetime(2025, 9, 11, 4, 59, tzinfo=UTC), "07:00", "Europe/Warsaw") == date(2025, 9, 9)
    assert digest_day_due(datetime(2025, 9, 11, 5, 0, tzinfo=UTC), "07:00", "Europe/Warsaw") == date(2025, 9, 10)
    with pytest.raises(ConfigInvalid, match="digest.timezone"):
        digest_day_due(NOW, "07:00", "Mars/Olympus")


def test_a_channel_without_its_destination_fails_at_start_naming_it() -> None:
    with pytest.raises(ConfigInvalid, match="alerts.channels.0.*needs `to`"):
        load_settings([], environ={}, overrides={"alerts": {"channels": [{"name": "m", "type": "email"}]}})
    with pytest.raises(ConfigInvalid, match="needs an http"):
        load_settings([], environ={}, overrides={"alerts": {"channels": [{"name": "h", "type": "webhook"}]}})
    with pytest.raises(ConfigInvalid, match="duplicate channel"):
        load_settings([], environ={}, overrides={"alerts": {"channels": [{"name": "x"}, {"name": "x"}]}})
    with pytest.raises(ConfigInvalid, match="alerts.channels.0.mins_sources: unknown key"):
        load_settings([], environ={}, overrides={"alerts": {"channels": [{"name": "x", "mins_sources": 2}]}})


def test_the_webhook_secret_comes_only_from_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text('[webhook]\nsecret = "oops"\n')
    with pytest.raises(ConfigInvalid, match="NEWSWATCH_WEBHOOK__SECRET"):
        load_settings([cfg], environ={})
    s = load_settings([], environ={"NEWSWATCH_WEBHOOK__SECRET": "hunter2-hook"})
    assert s.webhook.secret is not None and "hunter2" not in repr(s.webhook)


def test_an_alert_lists_one_line_per_other_outlet_its_first_article_and_counts_every_feed() -> None:
    from pipeline.alerts import AlertSources, SourceRef, alert_detail
    from pipeline.models import Alert

    at = datetime(2025, 9, 10, 6, tzinfo=UTC)
    alert = Alert("a1", "inc-1", "art-1", "desk", "pending", at, "Drones over Poland", "Poland", "Russia",
                  "https://a.example/1", "Drones over Poland", "alpha", at)
    refs = (SourceRef("beta", "first of beta", "https://b.example/1", at + timedelta(minutes=5)),
            SourceRef("alpha", "alpha again", "https://a.example/2", at + timedelta(minutes=6)),
            SourceRef("beta", "second of beta", "https://b.example/2", at + timedelta(minutes=7)),
            SourceRef("gamma", "gamma", "https://c.example/1", at + timedelta(minutes=8)))
    detail = alert_detail(AlertSources(alert, "lead", refs))
    assert [r.title for r in detail.other_sources] == ["first of beta", "gamma"] and detail.source_count == 3
    assert [r.feed for r in alert_detail(AlertSources(alert, "lead", refs), max_sources=1).other_sources] == ["beta"]

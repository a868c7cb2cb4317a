"""The one backoff of feeds, pages and the outbox (pipeline/retry.py): doubling, cap, jitter, Retry-After, tries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipeline.retry import Backoff, for_feeds, for_outbox, for_pages
from pipeline.retry_after import MAX_RETRY_AFTER_SECONDS
from pipeline.settings import AlertSettings, FetchSettings

NOW = datetime(2025, 9, 10, 12, tzinfo=UTC)


def test_without_jitter_the_delay_doubles_from_the_base_up_to_the_cap() -> None:
    policy = Backoff(10, cap_seconds=75)
    assert [policy.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 75, 75]
    assert policy.delay(0) == timedelta(seconds=10)  # no failure yet counts as the first


def test_a_feed_failing_for_years_neither_overflows_nor_passes_the_cap() -> None:
    assert for_feeds(FetchSettings()).delay(10**9, rng=random.Random(0)) <= timedelta(minutes=360)
    assert Backoff(1).delay(10**9) == timedelta(seconds=2**40)


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_spread_jitter_stays_within_20_percent_and_under_the_cap(failures: int, seed: int) -> None:
    delay = Backoff(60, 3600, "spread").delay(failures, rng=random.Random(seed)).total_seconds()
    plain = min(60 * 2 ** (failures - 1), 3600)
    assert 0.8 * plain - 1e-6 <= delay <= min(1.2 * plain, 3600) + 1e-6


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_equal_jitter_takes_between_half_and_all_of_the_delay(failures: int, seed: int) -> None:
    delay = Backoff(30, 3600, "equal").delay(failures, rng=random.Random(seed)).total_seconds()
    plain = min(30 * 2 ** (failures - 1), 3600)
    assert plain / 2 - 1e-6 <= delay <= plain + 1e-6


def test_jitter_spreads_things_that_failed_together() -> None:
    rng = random.Random(1)
    for jitter in ("spread", "equal"):
        assert len({Backoff(30, 3600, jitter).delay(4, rng=rng) for _ in range(20)}) > 15  # type: ignore[arg-type]


def test_a_longer_retry_after_wins_up_to_its_cap() -> None:
    policy = Backoff(30, 3600, "equal", retry_after_cap_seconds=900)
    assert policy.delay(1, 600, random.Random(0)) == timedelta(seconds=600)
    assert policy.delay(1, 10**6, random.Random(0)) == timedelta(seconds=900)
    assert policy.delay(1, 1, random.Random(0)) <= timedelta(seconds=30)  # shorter than the backoff: backoff
    assert Backoff(30).delay(1, 0) == timedelta(seconds=30)


def test_the_tries_end_after_max_attempts() -> None:
    policy = Backoff(60, max_attempts=3)
    assert policy.next_attempt_at(1, NOW) == NOW + timedelta(minutes=1)
    assert policy.next_attempt_at(2, NOW, retry_after_seconds=600) == NOW + timedelta(minutes=10)
    assert policy.next_attempt_at(3, NOW) is None
    assert Backoff(60, 3600).next_attempt_at(10_000, NOW) == NOW + timedelta(hours=1)  # no max_attempts: forever


def test_feeds_are_retried_forever_and_their_retry_after_is_capped_like_the_backoff() -> None:
    policy = for_feeds(FetchSettings(backoff_base_minutes=2, backoff_max_minutes=60))
    assert (policy.base_seconds, policy.cap_seconds, policy.jitter, policy.max_attempts) == (120, 3600, "spread", None)
    assert policy.delay(1, retry_after_seconds=7200) == timedelta(minutes=60)


def test_pages_double_without_jitter_for_their_attempts() -> None:
    policy = for_pages(FetchSettings(page_retry_minutes=5, page_attempts=3))
    assert policy.next_attempt_at(1, NOW) == NOW + timedelta(minutes=5)
    assert policy.next_attempt_at(2, NOW) == NOW + timedelta(minutes=10)
    assert policy.next_attempt_at(3, NOW) is None
    assert policy.retry_after_cap_seconds == MAX_RETRY_AFTER_SECONDS


def test_the_outbox_uses_its_alert_settings() -> None:
    policy = for_outbox(AlertSettings(retry_base_seconds=30, retry_max_seconds=3600, max_attempts=5))
    assert (policy.base_seconds, policy.cap_seconds, policy.jitter, policy.max_attempts) == (30, 3600, "equal", 5)
    assert policy.retry_after_cap_seconds == 24 * 3600

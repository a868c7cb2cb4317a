"""Secrets come from the environment exactly as given: never read as TOML literals, so a numeric, boolean,
date-like or quoted password works and a webhook's HMAC key is the very string that was set."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pipeline.settings import load_settings
from pipeline.webhook import sign


@pytest.mark.parametrize("value", ["12345678", "true", "1e3", "2025-01-01", "2025-01-01T00:00:00Z", '"quoted"',
                                   "'single'", "[1, 2]", "{a = 1}", " spaced ", "0x1F", "inf", "a = b", '"'])
def test_a_secret_from_the_environment_is_taken_verbatim(value: str) -> None:
    s = load_settings([], environ={"NEWSWATCH_SMTP__PASSWORD": value, "NEWSWATCH_WEBHOOK__SECRET": value})
    assert s.smtp.password is not None and s.smtp.password.get_secret_value() == value
    assert s.webhook.secret is not None and s.webhook.secret.get_secret_value() == value


def test_a_quoted_webhook_secret_signs_with_its_quotes() -> None:
    s = load_settings([], environ={"NEWSWATCH_WEBHOOK__SECRET": '"k3y"'})
    assert s.webhook.secret is not None
    expected = hmac.new(b'"k3y"', b"1.{}", hashlib.sha256).hexdigest()
    assert sign(s.webhook.secret.get_secret_value(), "1", b"{}") == f"sha256={expected}"


def test_other_settings_from_the_environment_are_still_typed() -> None:
    s = load_settings([], environ={"NEWSWATCH_SMTP__PORT": "2525", "NEWSWATCH_FETCH__ALLOW_PRIVATE_ADDRESSES": "true"})
    assert s.smtp.port == 2525 and s.fetch.allow_private_addresses is True

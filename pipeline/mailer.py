"""E-mail: build alert and digest messages (pure) and send them over SMTP (STARTTLS, implicit TLS or plain).

smtplib/ssl/socket errors are translated here, once, into SmtpUnavailable (transient: refused connection,
timeout, 4xx) or SmtpRejected (permanent: 5xx, failed login, TLS refused). Recipients are passed to the server
from the channel config, never read from headers, and header values are single-line by construction.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from types import TracebackType

from pipeline.alerts import AlertDetail, alert_subject, render_alert_html, render_alert_text
from pipeline.errors import ConfigInvalid, SmtpRejected, SmtpUnavailable
from pipeline.settings import SmtpSettings

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Newswatch-Idempotency-Key"


def _header(value: str, limit: int = 250) -> str:
    """One line, no control characters: a feed string can never start a new header."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def build_email(*, subject: str, text: str, html: str, sender: str, to: Sequence[str], message_id: str,
                idempotency_key: str, date: datetime) -> EmailMessage:
    """A multipart/alternative message (text first, HTML second) with a fixed Message-ID and idempotency
    header, so a receiver (or a dedup filter) can drop a repeat of the same alert. Raises ValueError only for
    a malformed address in the config."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = _header(subject)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg[IDEMPOTENCY_HEADER] = idempotency_key
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def build_alert_email(detail: AlertDetail, *, sender: str, to: Sequence[str], message_id: str,
                      date: datetime, timezone: str = "UTC") -> EmailMessage:
    """The e-mail for one alert: subject `[newswatch] New incident: <title> (<country> · <intruder>)`, times in
    `timezone` (the desk's: digest.timezone)."""
    return build_email(subject=alert_subject(detail.alert), text=render_alert_text(detail, timezone),
                       html=render_alert_html(detail, timezone), sender=sender, to=to, message_id=message_id,
                       idempotency_key=detail.alert.alert_id, date=date)


def _code_error(channel: str, code: int, detail: str) -> SmtpRejected | SmtpUnavailable:
    if 400 <= code < 500:
        return SmtpUnavailable(channel, f"smtp_{code}", detail)
    return SmtpRejected(channel, f"smtp_{code}", detail)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def translate_smtp_error(channel: str, exc: BaseException) -> SmtpRejected | SmtpUnavailable:
    """Map an smtplib/ssl/socket exception to SmtpRejected (permanent) or SmtpUnavailable (transient)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        detail = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in exc.recipients.items())
        code = max(codes) if all(c >= 500 for c in codes) else min(codes)
        return _code_error(channel, code, detail)
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data refused, login refused, ...
        return _code_error(channel, exc.smtp_code, _text(exc.smtp_error))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpRejected(channel, "not_supported", str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpRejected(channel, "tls_certificate", str(exc))
    if isinstance(exc, ssl.SSLError):
        return SmtpRejected(channel, "tls", str(exc))
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SmtpUnavailable(channel, "disconnected", str(exc))
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return SmtpUnavailable(channel, "timeout", str(exc))
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        return SmtpUnavailable(channel, "connection_error", str(exc) or type(exc).__name__)
    raise exc


class SmtpSender:
    """One SMTP session, opened on first use and reused for a delivery pass; close() (or `with`) ends it.

    send() raises SmtpUnavailable or SmtpRejected; after an error the session is dropped and the next
    send() connects again.
    """

    def __init__(self, settings: SmtpSettings, channel: str = "smtp") -> None:
        if settings.username and settings.password is None:
            raise ConfigInvalid("environment", "smtp.password",
                                "smtp.username is set but NEWSWATCH_SMTP__PASSWORD is not")
        self.settings = settings
        self.channel = channel
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)  # raises SMTPNotSupportedError if the server can't: no plain fallback
                smtp.ehlo()
            if s.username:
                assert s.password is not None
                smtp.login(s.username, s.password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, to: Sequence[str]) -> None:
        """Send `message` to `to` (the envelope recipients; headers are not consulted)."""
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message, from_addr=self.settings.sender, to_addrs=list(to))
        except Exception as exc:
            self.close()
            raise translate_smtp_error(self.channel, exc) from exc
        if refused:
            log.warning("%s: some recipients refused %s: %s", self.channel, message["Message-ID"], refused)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

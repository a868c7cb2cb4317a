"""The newswatch exception tree; third-party errors are translated into it once, at the edge.

    NewswatchError
    ├── TransientError          retrying later can succeed
    │   ├── FeedUnavailable         a GET, of a feed or a page: timeout, connection or DNS error, HTTP 5xx/429
    │   ├── WarehouseBusy           another process holds the DuckDB file
    │   ├── DiskFull                no space left for the warehouse, its snapshot or an output file
    │   ├── SmtpUnavailable         connection refused/dropped, timeout, SMTP 4xx
    │   ├── WebhookUnavailable      timeout, connection error, HTTP 5xx/429 (keeps Retry-After)
    │   └── NotifyUnavailable       an Apprise service did not take the message (Apprise tells no more)
    ├── PermanentError          retrying will not help
    │   ├── ConfigInvalid           bad or misspelt setting (names the key and the file)
    │   ├── FetchRefused            URL scheme or address not allowed (SSRF guard), body too large, HTTP 4xx
    │   ├── FeedMalformed           body is not a feed
    │   ├── OpmlInvalid             an imported file is not an OPML feed list (pipeline/opml.py)
    │   ├── WarehouseError          the warehouse file cannot be used (corrupt, wrong version, unwritable)
    │   ├── SmtpRejected            SMTP 5xx (recipient, sender, message or login refused), TLS refused
    │   ├── WebhookRejected         HTTP 4xx other than 429, redirect
    │   └── ModelUnavailable        the embedding model cannot be loaded offline
    ├── FetchFailed             a GET gave no usable body (`url`, `reason`): FeedUnavailable or FetchRefused
    └── DeliveryFailed          one alert or digest not sent on one channel (`channel`, `reason`): the
                                Smtp*, Webhook* and NotifyUnavailable classes

A class under FetchFailed or DeliveryFailed is also under TransientError or PermanentError, which decides
whether it is retried; catch FetchFailed or DeliveryFailed to record the reason of any outcome. The flows
layer adds CycleFailed (a stage stopped the cycle) and ServiceRunning (a second `serve` on one warehouse).
"""

from __future__ import annotations

from pipeline.sanitize import clean_line


class NewswatchError(Exception):
    """Base of every error newswatch raises on purpose."""


class TransientError(NewswatchError):
    """Retrying later can succeed."""


class PermanentError(NewswatchError):
    """Retrying will not help until something is changed."""


class ConfigInvalid(PermanentError):
    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


class FetchFailed(NewswatchError):
    """A GET did not produce a usable body; `reason` is a short machine-friendly code."""

    def __init__(self, url: str, reason: str, detail: str = "", retry_after_seconds: float | None = None) -> None:
        # url and detail may come from the server (a redirect, a reason phrase, a status line): made printable here
        self.url = url = clean_line(url)
        self.reason = reason
        self.detail = detail = clean_line(detail)
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"{url}: {reason}" + (f" ({detail})" if detail else ""))


class FeedUnavailable(FetchFailed, TransientError):
    """Timeout, connection error, HTTP 5xx or 429."""


class FetchRefused(FetchFailed, PermanentError):
    """Scheme or address forbidden, body over the size cap, HTTP 4xx."""


class FeedMalformed(PermanentError):
    def __init__(self, url: str, detail: str) -> None:
        self.url = url = clean_line(url)
        self.detail = detail = clean_line(detail)  # the parser's words about the body, which may quote it
        super().__init__(f"{url}: not a feed ({detail})")


class WarehouseBusy(TransientError):
    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"warehouse {path} is busy (another process holds it): {detail}")


class DiskFull(TransientError):
    """No space left on the device holding `path`: nothing committed is lost, and the next run after space
    returns resumes (a failed write is rolled back)."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.what = what
        super().__init__(f"no space left on device: could not write {what} {path}; free space there and run again")


class WarehouseError(PermanentError):
    """The warehouse file cannot be used (corrupt, wrong version, unwritable)."""


class ModelUnavailable(PermanentError):
    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        super().__init__(f"embedding model {model!r} cannot be loaded offline: {detail}")


class DeliveryFailed(NewswatchError):
    """Sending one alert or digest on one channel did not succeed; `reason` is a short machine-friendly code."""

    def __init__(self, channel: str, reason: str, detail: str = "", retry_after_seconds: float | None = None) -> None:
        self.channel = channel
        self.reason = reason
        self.detail = detail = clean_line(detail)  # the receiver's answer, made printable
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"{channel}: {reason}" + (f" ({detail})" if detail else ""))


class SmtpUnavailable(DeliveryFailed, TransientError):
    """Connection refused or dropped, timeout, SMTP 4xx: try again later."""


class SmtpRejected(DeliveryFailed, PermanentError):
    """SMTP 5xx, failed login, TLS refused: the same message will be refused again."""


class WebhookUnavailable(DeliveryFailed, TransientError):
    """Timeout, connection error, HTTP 5xx or 429 (Retry-After kept in retry_after_seconds)."""


class WebhookRejected(DeliveryFailed, PermanentError):
    """HTTP 4xx other than 429 (e.g. 410 Gone: the hook was deleted), or a redirect."""


class NotifyUnavailable(DeliveryFailed, TransientError):
    """An Apprise service did not take the message. Apprise reports success or failure only, so every failure is
    retried (up to alerts.max_attempts); the detail is what Apprise logged."""

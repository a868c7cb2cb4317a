"""HTTP GET with the limits a monitoring service needs: scheme and address guard (SSRF), redirects re-checked,
total timeout, streamed size cap, conditional GET. httpx errors are translated here, once.

Network I/O only; no parsing, no database.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline.errors import FeedUnavailable, FetchRefused

REDIRECT_CODES = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class Response:
    url: str
    final_url: str
    status: int
    body: bytes
    headers: dict[str, str]


def _forbidden_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
        ("is_unspecified", "unspecified"),
    ):
        if getattr(ip, attr):
            return label
    return None


def check_url(url: str, allow_private_addresses: bool) -> None:
    """Refuse non-http(s) URLs and, unless allowed, hosts resolving to non-public addresses.

    Raises FetchRefused with reason 'bad_scheme', 'bad_url' or 'forbidden_address'.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(url, "bad_scheme", f"only http and https are fetched, not {parts.scheme or 'none'!r}")
    host = parts.hostname
    if not host:
        raise FetchRefused(url, "bad_url", "no host")
    if allow_private_addresses:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchRefused(url, "bad_url", str(exc)) from exc
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise FeedUnavailable(url, "dns_error", str(exc)) from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        label = _forbidden_reason(ip)
        if label:
            raise FetchRefused(
                url, "forbidden_address",
                f"{host} resolves to {label} address {ip}; set fetch.allow_private_addresses = true to allow it",
            )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def fetch(
    client: httpx.Client,
    url: str,
    *,
    max_bytes: int,
    timeout_seconds: float,
    max_redirects: int,
    allow_private_addresses: bool,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Response:
    """GET `url` following redirects (each hop re-checked), returning 2xx or 304 responses.

    Raises FeedUnavailable (transient: timeout, connection error, 5xx, 429) or FetchRefused (permanent: guard,
    size cap, other 4xx, redirect loop).
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout_seconds
    current = url
    seen: set[str] = set()
    for _hop in range(max_redirects + 1):
        check_url(current, allow_private_addresses)
        if current in seen:
            raise FetchRefused(url, "redirect_loop", f"{current} visited twice")
        seen.add(current)
        try:
            with client.stream("GET", current, headers=headers, follow_redirects=False) as resp:
                if resp.status_code in REDIRECT_CODES and "location" in resp.headers:
                    current = urljoin(current, resp.headers["location"])
                    continue
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise FeedUnavailable(
                        url, f"http_{resp.status_code}", resp.reason_phrase,
                        retry_after_seconds=_retry_after(resp.headers.get("retry-after")),
                    )
                if resp.status_code >= 400:
                    raise FetchRefused(url, f"http_{resp.status_code}", resp.reason_phrase)
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchRefused(url, "too_large", f"Content-Length {declared} > {max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchRefused(url, "too_large", f"body over {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise FeedUnavailable(url, "timeout", f"body not complete after {timeout_seconds:g} s")
                    chunks.append(chunk)
                return Response(
                    url=url, final_url=current, status=resp.status_code, body=b"".join(chunks),
                    headers={k.lower(): v for k, v in resp.headers.items()},
                )
        except httpx.TimeoutException as exc:
            raise FeedUnavailable(url, "timeout", str(exc) or type(exc).__name__) from exc
        except httpx.DecodingError as exc:
            raise FetchRefused(url, "bad_encoding", str(exc)) from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise FeedUnavailable(url, "connection_error", str(exc) or type(exc).__name__) from exc
    raise FetchRefused(url, "too_many_redirects", f"more than {max_redirects}")


def make_client(timeout_seconds: float, user_agent: str) -> httpx.Client:
    """An httpx client with per-phase timeouts; the caller closes it."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        trust_env=False,
    )

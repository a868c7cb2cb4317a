"""The fetcher refuses what a monitoring service must never fetch, with a clear reason."""

from __future__ import annotations

import httpx
import pytest

from pipeline import web
from pipeline.errors import FetchRefused


def get(url: str, client: httpx.Client | None = None, allow: bool = False) -> web.Response:
    with client or httpx.Client() as c:
        return web.fetch(c, url, max_bytes=1000, timeout_seconds=5, max_redirects=3, allow_private_addresses=allow)


@pytest.mark.parametrize("url, label", [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:9/", "loopback"),
    ("http://10.1.2.3/", "private"),
    ("http://[::1]/", "loopback"),
    ("http://224.0.0.1/", "multicast"),
])
def test_non_public_addresses_are_refused_by_default(url: str, label: str) -> None:
    with pytest.raises(FetchRefused, match=f"forbidden_address.*{label}") as info:
        get(url)
    assert info.value.reason == "forbidden_address"
    assert "allow_private_addresses" in str(info.value)


def test_only_http_and_https_are_fetched() -> None:
    with pytest.raises(FetchRefused, match="bad_scheme"):
        get("file:///etc/passwd")


def test_a_redirect_to_a_forbidden_address_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/"})

    with pytest.raises(FetchRefused, match="forbidden_address"):
        get("http://93.184.216.34/feed.xml", httpx.Client(transport=httpx.MockTransport(handler)))


def test_a_body_over_the_size_cap_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    with pytest.raises(FetchRefused, match="too_large"):
        get("http://93.184.216.34/big", httpx.Client(transport=httpx.MockTransport(handler)))


def test_a_redirect_loop_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        nxt = "/b" if request.url.path == "/a" else "/a"
        return httpx.Response(302, headers={"location": nxt})

    with pytest.raises(FetchRefused, match="redirect_loop|too_many_redirects"):
        get("http://93.184.216.34/a", httpx.Client(transport=httpx.MockTransport(handler)))


def test_loopback_is_fetched_when_allowed(corpus_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client() as c:
        resp = web.fetch(c, corpus_server.base_url + "/baltic-wire/feed.xml", max_bytes=10**7, timeout_seconds=5,
                         max_redirects=3, allow_private_addresses=True)
    assert resp.status == 200 and b"<rss" in resp.body

"""The fetcher refuses what a monitoring service must never fetch, with a clear reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline import web
from pipeline.errors import FetchRefused
from tests.hostile_server import HostileServer, PublicHost, redirect, static


@pytest.fixture(scope="module")
def public_host() -> Iterator[HostileServer]:
    """A real server standing in for the public host 93.184.216.34 (see PublicHost)."""
    with HostileServer() as s:
        s.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/")
        s.routes["/big"] = static(b"x" * 5000, content_type="text/plain")
        s.routes["/a"] = redirect("/b")
        s.routes["/b"] = redirect("/a")
        yield s


def get(url: str, public_host: HostileServer | None = None, allow: bool = False) -> web.Response:
    network = PublicHost(public_host) if public_host is not None else None
    with web.make_client(5, "t", connector=network) as c:
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


def test_a_redirect_to_a_forbidden_address_is_refused(public_host: HostileServer) -> None:
    with pytest.raises(FetchRefused, match="forbidden_address"):
        get("http://93.184.216.34/to-metadata", public_host)
    assert public_host.hits["/to-metadata"] == 1


def test_a_body_over_the_size_cap_is_refused(public_host: HostileServer) -> None:
    with pytest.raises(FetchRefused, match="too_large"):
        get("http://93.184.216.34/big", public_host)


def test_a_redirect_loop_is_refused(public_host: HostileServer) -> None:
    with pytest.raises(FetchRefused, match="redirect_loop|too_many_redirects"):
        get("http://93.184.216.34/a", public_host)


def test_loopback_is_fetched_when_allowed(corpus_server) -> None:  # type: ignore[no-untyped-def]
    with web.make_client(5, "t") as c:
        resp = web.fetch(c, corpus_server.base_url + "/baltic-wire/feed.xml", max_bytes=10**7, timeout_seconds=5,
                         max_redirects=3, allow_private_addresses=True)
    assert resp.status == 200 and b"<rss" in resp.body

"""Only globally routable addresses are fetched: one case per range that is not, on the first GET and as the
target of a redirect. No test here sends a packet anywhere but 127.0.0.1: the guard is called without
connecting, and the redirecting "public" host is a local server behind a test connector that refuses every
other address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from pipeline import web
from pipeline.addresses import embedded_ipv4, forbidden_reason
from pipeline.errors import FetchRefused
from tests.hostile_server import HostileServer, PublicHost, redirect

# address -> the words the refusal must name
NOT_GLOBAL = {
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "10.1.2.3": "private",
    "100.64.0.1": "shared (carrier-grade NAT",
    "100.100.100.200": "shared (carrier-grade NAT",  # a cloud metadata address
    "100.127.255.254": "shared (carrier-grade NAT",
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "169.254.169.254": "link-local",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.0.0.170": "IETF protocol assignment",
    "192.0.2.1": "documentation",
    "192.168.1.1": "private",
    "198.18.0.1": "benchmarking",
    "198.19.255.254": "benchmarking",
    "198.51.100.7": "documentation",
    "203.0.113.9": "documentation",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fc00::1": "private (unique local)",
    "fd12:3456::1": "private (unique local)",
    "ff02::1": "multicast",
    "ff0e::1": "multicast",
    "2001:db8::1": "documentation",
    "100::1": "discard-only",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:100.100.100.200": "shared (carrier-grade NAT",
    "::ffff:0:a9fe:a9fe": "IPv4-translated wrapping link-local 169.254.169.254",
    "::127.0.0.1": "IPv4-compatible wrapping loopback 127.0.0.1",
    "2002:7f00:1::": "6to4 wrapping loopback 127.0.0.1",
    "2002:a9fe:a9fe::1": "6to4 wrapping link-local 169.254.169.254",
    "2002:6464:64c8::": "6to4 wrapping shared (carrier-grade NAT, RFC 6598) 100.100.100.200",
    "2002:c0a8:101::": "6to4 wrapping private 192.168.1.1",
    "64:ff9b::7f00:1": "NAT64 wrapping loopback 127.0.0.1",
    "64:ff9b::a9fe:a9fe": "NAT64 wrapping link-local 169.254.169.254",
    "64:ff9b:1::a00:1": "NAT64 wrapping private 10.0.0.1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "Teredo",  # client 127.0.0.1 behind server 65.54.227.120
}
GLOBAL = ["93.184.216.34", "8.8.8.8", "192.0.0.9", "2606:2800:220:1:248:1893:25c8:1946",
          "2002:5db8:d822::1", "64:ff9b::5db8:d822"]


def _url(address: str) -> str:
    return f"http://[{address}]/feed.xml" if ":" in address else f"http://{address}/feed.xml"


@pytest.mark.parametrize("address, words", NOT_GLOBAL.items())
def test_an_address_that_is_not_globally_routable_is_refused(address: str, words: str) -> None:
    reason = forbidden_reason(ipaddress.ip_address(address))
    assert reason is not None and words in reason, reason
    with pytest.raises(FetchRefused) as info:
        web.check_url(_url(address), allow_private_addresses=False)
    assert info.value.reason == "forbidden_address"
    assert words.split(" (")[0] in info.value.detail and "allow_private_addresses" in info.value.detail


@pytest.mark.parametrize("address", GLOBAL)
def test_a_globally_routable_address_passes_the_guard(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None
    web.check_url(_url(address), allow_private_addresses=False)  # no exception: would be fetched


def test_the_ipv4_inside_an_ipv6_address_is_found_in_every_form() -> None:
    forms = {form for a in ("2002:7f00:1::", "64:ff9b::7f00:1", "::ffff:127.0.0.1", "::127.0.0.1",
                            "2001:0:4136:e378:8000:63bf:80ff:fffe", "::ffff:0:7f00:1")
             for form, _ in embedded_ipv4(ipaddress.ip_address(a))}
    assert forms >= {"6to4", "NAT64", "IPv4-mapped", "IPv4-compatible", "Teredo server", "Teredo client",
                     "IPv4-translated"}


def test_every_address_is_allowed_when_private_addresses_are(monkeypatch: pytest.MonkeyPatch) -> None:
    for address in NOT_GLOBAL:
        assert web.resolve_url(_url(address), allow_private_addresses=True) is None


@pytest.fixture(scope="module")
def public_host() -> Iterator[HostileServer]:
    with HostileServer() as s:
        yield s


@pytest.mark.parametrize("address", ["100.100.100.200", "100.64.0.1", "198.18.0.1", "192.0.0.170",
                                     "2002:7f00:1::", "64:ff9b::7f00:1", "::ffff:100.64.0.1"])
def test_a_redirect_from_a_public_page_to_a_non_global_address_is_refused(public_host: HostileServer,
                                                                           address: str) -> None:
    public_host.routes["/hop.xml"] = redirect(_url(address))
    network = PublicHost(public_host)  # refuses any address but the public one it stands in for
    before = public_host.hits.get("/hop.xml", 0)
    with web.make_client(2, "t", connector=network) as client, pytest.raises(FetchRefused) as info:
        web.fetch(client, "http://93.184.216.34/hop.xml", max_bytes=1000, timeout_seconds=2, max_redirects=3,
                  allow_private_addresses=False)
    assert info.value.reason == "forbidden_address", info.value
    assert public_host.hits["/hop.xml"] == before + 1
    assert network.attempted == ["93.184.216.34"]  # the redirect's target was never connected to

"""Proxies: HTTPS_PROXY / HTTP_PROXY / NO_PROXY and `fetch.proxy` for feeds, pages and webhooks, tested through a
real proxy process (tinyproxy) on 127.0.0.1: plain http as absolute-form GETs, https through CONNECT with the
target's certificate still checked, credentials sent, the address guard still applied to every target."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline import web
from pipeline.errors import ConfigInvalid, FeedUnavailable, FetchFailed, FetchRefused
from pipeline.proxies import ProxyRoutes
from pipeline.settings import load_settings
from tests.hostile_server import HostileServer, rss, static
from tests.proxy_server import TINYPROXY, Tinyproxy
from tests.test_tls_fetch import TLSServer

# ------------------------------------------------------------------ which proxy, from settings and environment


def test_the_environment_names_a_proxy_per_scheme_lower_case_first() -> None:
    routes = ProxyRoutes.from_settings(None, {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:3128",
                                              "HTTP_PROXY": "proxy.internal:8080"})
    assert str(routes.for_url("https", "example.org")) == "http://lower:3128"
    assert str(routes.for_url("http", "example.org")) == "http://proxy.internal:8080"
    assert ProxyRoutes.from_settings(None, {}).for_url("https", "example.org") is None


def test_fetch_proxy_wins_over_the_environment_and_none_turns_proxies_off() -> None:
    env = {"HTTPS_PROXY": "http://env:1", "HTTP_PROXY": "http://env:1"}
    routes = ProxyRoutes.from_settings("http://u:p%40ss@configured:3128", env)
    for scheme in ("http", "https"):
        proxy = routes.for_url(scheme, "example.org")
        assert proxy is not None and str(proxy) == "http://configured:3128" and proxy.source == "fetch.proxy"
        assert proxy.authorization == "Basic dTpwQHNz"  # u:p@ss
        assert "p%40ss" not in repr(proxy) and "p%40ss" not in str(proxy)  # credentials never shown
    assert ProxyRoutes.from_settings("none", env).for_url("https", "example.org") is None


@pytest.mark.parametrize("host, bypassed", [
    ("intranet.corp.example", True), ("corp.example", True), ("notcorp.example", False),
    ("localhost", True), ("10.1.2.3", True), ("11.1.2.3", False), ("fd00::5", True), ("feeds.example.org", True),
    ("example.org", False), ("EXAMPLE.NET", True), ("host.example.net.", True),
])
def test_no_proxy_exempts_names_subdomains_addresses_and_networks(host: str, bypassed: bool) -> None:
    routes = ProxyRoutes.from_settings("http://proxy:3128", {
        "NO_PROXY": ".corp.example, localhost,10.0.0.0/8,fd00::/8, *.feeds.example.org, example.net:443"})
    assert routes.bypassed(host) is bypassed
    assert (routes.for_url("https", host) is None) is bypassed


def test_no_proxy_star_exempts_everything() -> None:
    assert ProxyRoutes.from_settings(None, {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}).for_url("https", "x.org") is None


@pytest.mark.parametrize("value, problem", [("socks5://p:1080", "not supported"), ("https://p:443", "not supported"),
                                            ("http://p:99999", "bad proxy port"), ("http://p:1/path", "not a proxy URL"),
                                            ("http://:3128", "not a proxy URL")])
def test_an_unusable_proxy_fails_naming_where_it_was_set(value: str, problem: str) -> None:
    with pytest.raises(ConfigInvalid, match=rf"environment variable HTTPS_PROXY: HTTPS_PROXY: .*{problem}"):
        ProxyRoutes.from_settings(None, {"HTTPS_PROXY": value})
    with pytest.raises(ConfigInvalid, match=rf"NEWSWATCH_FETCH__PROXY: fetch.proxy: .*{problem}"):
        load_settings([], environ={"NEWSWATCH_FETCH__PROXY": value})


# ------------------------------------------------------------------ through a real proxy

@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    if TINYPROXY is None:
        pytest.skip("tinyproxy is not installed (.ci/run installs it)")
    with Tinyproxy(tmp_path_factory.mktemp("proxy")) as p:
        yield p


@pytest.fixture(scope="module")
def origin() -> Iterator[HostileServer]:
    with HostileServer() as s:
        s.routes["/proxied.xml"] = _echo_via
        yield s


def _echo_via(h: Any) -> None:
    """A feed whose only item's title says which proxy the request came through (its Via header)."""
    via = h.headers.get("Via", "none")
    body = rss([{"title": f"via {via}", "link": "http://example.org/p"}])
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def get(client: web.Client, url: str, allow: bool = True) -> web.Response:
    return web.fetch(client, url, max_bytes=10**6, timeout_seconds=5, max_redirects=3, allow_private_addresses=allow)


def _new_requests(proxy: Tinyproxy, before: int) -> list[str]:
    time.sleep(0.1)  # tinyproxy writes its log line as it reads the request
    return proxy.requests()[before:]


def test_an_http_feed_is_fetched_through_the_proxy(proxy: Tinyproxy, origin: HostileServer) -> None:
    routes = ProxyRoutes.from_settings(None, {"HTTP_PROXY": proxy.url})
    before = len(proxy.requests())
    with web.make_client(5, "t", proxies=routes) as client:
        for _ in range(2):  # the second GET works whether the proxy kept the connection or closed it
            resp = get(client, origin.url("/proxied.xml"))
            assert resp.status == 200 and b"via 1.1" in resp.body and b"tinyproxy" in resp.body
    assert _new_requests(proxy, before) == [f"GET {origin.url('/proxied.xml')} HTTP/1.1"] * 2


def test_https_goes_through_connect_with_the_certificate_checked(proxy: Tinyproxy, tmp_path: Path) -> None:
    tls = TLSServer(tmp_path)
    try:
        (tmp_path / "ca.pem").write_text(tls.ca_pem)
        routes = ProxyRoutes.from_settings(proxy.url, {})  # fetch.proxy
        port = tls.url.rsplit(":", 1)[1]
        before = len(proxy.requests())
        with web.make_client(5, "t", ca_file=str(tmp_path / "ca.pem"), proxies=routes) as client:
            resp = get(client, tls.url + "/feed.xml")
            assert resp.status == 200 and b"<title>tls</title>" in resp.body
            connections = tls.connections
            assert get(client, tls.url + "/feed.xml").status == 200
            assert tls.connections == connections  # the tunnel and its TLS session were kept and reused
        assert _new_requests(proxy, before) == [f"CONNECT localhost:{port} HTTP/1.1"]
        # without the CA the target's certificate is refused through the tunnel as it is without a proxy
        with web.make_client(5, "t", proxies=routes) as client, \
                pytest.raises(FeedUnavailable, match="connection_error.*CERTIFICATE"):
            get(client, tls.url + "/feed.xml")
    finally:
        tls.close()


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/proxied.xml", "https://127.0.0.1:{port}/x",
                                    "http://100.100.100.200/latest/", "http://[2002:7f00:1::]/",
                                    "https://100.64.0.1/feed.xml"])
def test_the_guard_still_applies_to_the_target_behind_a_proxy(proxy: Tinyproxy, origin: HostileServer,
                                                            target: str) -> None:
    routes = ProxyRoutes.from_settings(proxy.url, {})  # the proxy itself is on loopback: the operator's choice
    before, hits = len(proxy.requests()), dict(origin.hits)
    with web.make_client(5, "t", proxies=routes) as client, pytest.raises(FetchRefused) as info:
        get(client, target.format(port=origin.port), allow=False)
    assert info.value.reason == "forbidden_address"
    assert _new_requests(proxy, before) == [] and origin.hits == hits  # refused before the proxy was asked


def test_no_proxy_hosts_are_fetched_directly(proxy: Tinyproxy, origin: HostileServer) -> None:
    routes = ProxyRoutes.from_settings(None, {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
    before = len(proxy.requests())
    with web.make_client(5, "t", proxies=routes) as client:
        assert b"via none" in get(client, origin.url("/proxied.xml")).body
    assert _new_requests(proxy, before) == []


def test_proxy_credentials_are_sent_for_get_and_connect(tmp_path: Path, origin: HostileServer) -> None:
    if TINYPROXY is None:
        pytest.skip("tinyproxy is not installed")
    tls = TLSServer(tmp_path)
    (tmp_path / "ca.pem").write_text(tls.ca_pem)
    try:
        with Tinyproxy(tmp_path, basic_auth=("desk", "s3cr3t")) as locked:
            anonymous = ProxyRoutes.from_settings(locked.url, {})
            with web.make_client(5, "t", proxies=anonymous, ca_file=str(tmp_path / "ca.pem")) as client:
                with pytest.raises(FetchRefused, match="http_407"):
                    get(client, origin.url("/proxied.xml"))
                with pytest.raises(FeedUnavailable, match="proxy_error.*407"):
                    get(client, tls.url + "/feed.xml")
            signed_in = ProxyRoutes.from_settings(locked.url.replace("//", "//desk:s3cr3t@"), {})
            with web.make_client(5, "t", proxies=signed_in, ca_file=str(tmp_path / "ca.pem")) as client:
                assert b"tinyproxy" in get(client, origin.url("/proxied.xml")).body
                assert get(client, tls.url + "/feed.xml").status == 200
    finally:
        tls.close()


def test_a_proxy_that_is_down_is_a_transient_connection_error(origin: HostileServer) -> None:
    from tests.proxy_server import _free_port

    routes = ProxyRoutes.from_settings(f"http://127.0.0.1:{_free_port()}", {})
    with web.make_client(2, "t", proxies=routes) as client, pytest.raises(FetchFailed) as info:
        get(client, origin.url("/proxied.xml"))
    assert isinstance(info.value, FeedUnavailable) and info.value.reason == "connection_error"


def test_a_webhook_is_posted_through_the_proxy(proxy: Tinyproxy, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.deliver import _webhook_client

    received: list[str] = []

    def hook(h: Any) -> None:
        h.rfile.read(int(h.headers.get("Content-Length", "0")))
        received.append(h.headers.get("Via", "none"))
        static(b"ok", content_type="text/plain")(h)

    with HostileServer() as receiver:
        receiver.routes["/hook"] = hook
        receiver_do_post(receiver)
        url = receiver.url("/hook")
        for environ, config, via in (({"HTTP_PROXY": proxy.url}, None, True),
                                     ({"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}, None, False),
                                     ({}, proxy.url, True), ({"HTTP_PROXY": proxy.url}, "none", False)):
            for name in ("HTTP_PROXY", "NO_PROXY"):
                monkeypatch.delenv(name, raising=False)
                monkeypatch.delenv(name.lower(), raising=False)
            for name, value in environ.items():
                monkeypatch.setenv(name, value)
            settings = load_settings([], environ={}, overrides={"fetch": {"proxy": config}})
            with _webhook_client(settings, url) as client:
                assert client.post(url, content=b"{}").status_code == 200
            assert ("tinyproxy" in received[-1]) is via, (environ, config, received[-1])


def receiver_do_post(server: HostileServer) -> None:
    """Let the HostileServer answer POSTs with its GET routes (it only serves GETs)."""
    handler_class = server.httpd.RequestHandlerClass
    handler_class.do_POST = handler_class.do_GET  # type: ignore[attr-defined]


"""Which HTTP proxy a request goes through: `fetch.proxy` when set, else HTTPS_PROXY / HTTP_PROXY from the
environment (lower-case names first, as curl reads them); NO_PROXY exempts hosts either way.

Pure: reads only the mapping it is given; no network. A proxy is an `http://` URL (`[user:password@]host[:port]`,
port 80 by default); https targets go through it with CONNECT, so TLS still runs end to end with the target and
its certificate is checked as without a proxy.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from pipeline.errors import ConfigInvalid

# fetch.proxy = "none": no proxy, whatever the environment says
NO_PROXY_VALUE = "none"


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    source: str  # where it was configured: "fetch.proxy" or an environment variable's name
    url: str = field(repr=False)  # as configured, credentials included (for clients that take a URL: httpx)
    authorization: str | None = field(default=None, repr=False)  # Proxy-Authorization (Basic) from user:password

    def __str__(self) -> str:  # never shows the credentials
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_proxy(value: str, source: str) -> Proxy:
    """An `http://[user:password@]host[:port]` proxy URL (a bare `host:port` is taken as http); `source` says
    where it was configured. Raises ValueError when the value is not such a URL."""
    raw = value.strip()
    parts = urlsplit(raw if "://" in raw else "http://" + raw)
    if parts.scheme.lower() != "http":
        raise ValueError(f"proxy {parts.scheme}:// is not supported (use an http:// proxy; https "
                         "targets go through it with CONNECT)")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"bad proxy port in {raw!r}") from exc
    if not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{raw!r} is not a proxy URL (http://host:port)")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return Proxy(parts.hostname, port, source, parts._replace(scheme="http").geturl(), authorization)


def _checked(value: str, source: str) -> Proxy:
    try:
        return parse_proxy(value, source)
    except ValueError as exc:
        where = "config" if source == "fetch.proxy" else "environment variable " + source
        raise ConfigInvalid(where, source, str(exc)) from exc


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for key in (name.lower(), name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return key, value
    return None


@dataclass(frozen=True)
class ProxyRoutes:
    """The proxy of each target: `http` / `https` per scheme, `no_proxy` the NO_PROXY entries."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, configured: str | None, environ: Mapping[str, str]) -> ProxyRoutes:
        """`configured` is fetch.proxy (None: the environment's; "none": no proxy). Raises ConfigInvalid naming
        the setting or variable when a proxy URL is unusable."""
        found = _env(environ, "NO_PROXY")
        no_proxy = tuple(e.strip().lower() for e in found[1].split(",") if e.strip()) if found else ()
        if configured is not None:
            if configured.strip().lower() == NO_PROXY_VALUE:
                return cls(no_proxy=no_proxy)
            proxy = _checked(configured, "fetch.proxy")
            return cls(proxy, proxy, no_proxy)
        http = _env(environ, "HTTP_PROXY")
        https = _env(environ, "HTTPS_PROXY")
        return cls(_checked(http[1], http[0]) if http else None, _checked(https[1], https[0]) if https else None,
                   no_proxy)

    def bypassed(self, host: str) -> bool:
        """NO_PROXY: `*`, a host name (also matching its subdomains; a leading `.` or `*.` is ignored), an IP
        address or a CIDR network; a `:port` on an entry is ignored."""
        host = host.lower().strip("[]").rstrip(".")
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        for entry in self.no_proxy:
            if entry == "*":
                return True
            name = entry.removeprefix("*.").lstrip(".")
            if name.startswith("[") and "]" in name:
                name = name[1:name.index("]")]
            elif name.count(":") == 1:
                name = name.split(":")[0]
            if ip is not None:
                try:
                    if ip in ipaddress.ip_network(name, strict=False):
                        return True
                except ValueError:
                    pass
                continue
            name = name.rstrip(".")
            if name and (host == name or host.endswith("." + name)):
                return True
        return False

    def for_url(self, scheme: str, host: str) -> Proxy | None:
        """The proxy for a GET/POST to `scheme://host/...`, or None to connect directly."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or self.bypassed(host):
            return None
        return proxy

    def url_for(self, url: str) -> str | None:
        """The proxy URL (credentials included) for `url`, or None: for clients that take a proxy URL (httpx)."""
        parts = urlsplit(url)
        proxy = self.for_url(parts.scheme, parts.hostname or "")
        return proxy.url if proxy is not None else None

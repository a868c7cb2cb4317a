"""HTTP GET with the limits a monitoring service needs: scheme and address guard (SSRF), redirects re-checked,
total timeout, streamed size cap, conditional GET. Socket and HTTP errors are translated here, once.

The address guard holds after DNS: an http request is sent to the very address that was checked (the URL is
pinned to it, the Host header keeps the name), an https connection is bound to the name by its certificate, and
in both cases the peer address of the open connection is checked again before the body is read. Bodies are
decompressed here with a bounded output, so a gzip bomb stops at the size cap. The total time of a GET holds even
on a server that trickles its headers: every socket operation of a `make_client` client waits at most until the
GET's deadline, so connections can be kept alive and reused (a conditional GET that answers 304 costs one round
trip, not a new connection). Through an HTTP proxy (pipeline.proxies) plain http is sent as an absolute-form
GET and https through a CONNECT tunnel (TLS end to end, the certificate checked against the name); the target
is checked by the guard first, on every hop, and the proxy itself may be private. Header values, reason phrases
and status lines are cleaned of control characters here (pipeline.sanitize), before anyone stores or prints them.

Network I/O only; no parsing, no database.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline.addresses import forbidden_reason
from pipeline.errors import FeedUnavailable, FetchRefused
from pipeline.proxies import Proxy, ProxyRoutes
from pipeline.retry_after import parse_retry_after
from pipeline.sanitize import clean_line

REDIRECT_CODES = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class Response:
    url: str
    final_url: str
    status: int
    body: bytes
    headers: dict[str, str]


def _refuse_address(url: str, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, label: str) -> FetchRefused:
    return FetchRefused(
        url, "forbidden_address",
        f"{host} resolves to {ip}, {label}, not a globally routable address; "
        "set fetch.allow_private_addresses = true to allow it",
    )


def resolve_url(url: str, allow_private_addresses: bool) -> str | None:
    """Check `url` like `check_url` and return the address to connect to (None when private addresses are
    allowed, so no pinning is needed). Raises FetchRefused, FeedUnavailable ('dns_error')."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(url, "bad_scheme", f"only http and https are fetched, not {parts.scheme or 'none'!r}")
    try:
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchRefused(url, "bad_url", str(exc)) from exc
    if not host:
        raise FetchRefused(url, "bad_url", "no host")
    if allow_private_addresses:
        return None
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FeedUnavailable(url, "dns_error", str(exc)) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in addresses:
        label = forbidden_reason(ip)
        if label:
            raise _refuse_address(url, host, ip, label)
    if not addresses:
        raise FeedUnavailable(url, "dns_error", f"{host} has no address")
    return str(addresses[0])


def check_url(url: str, allow_private_addresses: bool) -> None:
    """Refuse non-http(s) URLs and, unless allowed, hosts resolving to any address that is not globally
    routable (pipeline.addresses).

    Raises FetchRefused with reason 'bad_scheme', 'bad_url' or 'forbidden_address'.
    """
    resolve_url(url, allow_private_addresses)


class _Decoder:
    """Content-Encoding gzip/deflate decoded with a bounded output: never more than `limit` + 1 bytes."""

    def __init__(self, url: str, encoding: str) -> None:
        self.url = url
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchRefused(url, "bad_encoding", f"unsupported Content-Encoding {encoding!r}")
        self.coding = codings[0] if codings else None
        self._zlib: Any = None
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._first = True

    def feed(self, chunk: bytes, limit: int) -> Iterator[bytes]:
        """Decoded pieces of `chunk`; stops once `limit` + 1 bytes were produced in total by this call."""
        if self._zlib is None:
            yield chunk
            return
        data = chunk
        produced = 0
        while data and produced <= limit:
            try:
                piece = self._zlib.decompress(data, limit + 1 - produced)
            except zlib.error as exc:
                if self.coding == "deflate" and self._first:  # raw deflate without the zlib header
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    continue
                raise FetchRefused(self.url, "bad_encoding", f"{self.coding}: {exc}") from exc
            self._first = False
            produced += len(piece)
            yield piece
            if self._zlib.eof:  # a further gzip member may follow
                data = self._zlib.unused_data
                if data:
                    self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = self._zlib.unconsumed_tail


_PoolKey = tuple[str, str, int, str]  # scheme, host (or pinned address), port, Host header; or the proxy's
_DEADLINE = threading.local()  # .at: time.monotonic() by which the current thread's GET must be done


def _clamp(timeout: float | None) -> float | None:
    """`timeout` shortened to what is left of this thread's GET deadline; raises TimeoutError once it has passed."""
    at: float | None = getattr(_DEADLINE, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise TimeoutError("total time of the request used up")
    return left if timeout is None else min(timeout, left)


class _DeadlineWaits:
    """Every receive and send of the socket waits at most until the GET's deadline: a server sending one byte a
    second cannot hold a GET past it, on a new or on a reused connection."""

    __slots__ = ()

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(_clamp(None))  # type: ignore[attr-defined]
        return super().recv_into(buffer, nbytes, flags)  # type: ignore[misc]

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(_clamp(None))  # type: ignore[attr-defined]
        super().sendall(data, flags)  # type: ignore[misc]


class _DeadlineSocket(_DeadlineWaits, socket.socket):
    __slots__ = ()


class _DeadlineSSLSocket(_DeadlineWaits, ssl.SSLSocket):
    """The TLS side of `_DeadlineSocket` (the handshake runs under the connect timeout)."""


@functools.lru_cache(maxsize=4)
def _tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """httpx's default verifying TLS context (certifi's CA bundle, hostname checked), plus the authorities in
    `ca_file`; built once per file, since loading the bundle is slow (benchmarks/PERFORMANCE.md, "Costs behind
    choices in the code"). Its sockets are `_DeadlineSSLSocket`s."""
    context = httpx.create_ssl_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.sslsocket_class = _DeadlineSSLSocket
    return context


Connector = Callable[[str, int, float | None], tuple[socket.socket, str]]


def _tcp_connect(host: str, port: int, timeout: float | None) -> tuple[socket.socket, str]:
    """Open a TCP connection; returns the socket and the peer's address as connected."""
    sock = socket.create_connection((host, port), timeout)
    return sock, str(sock.getpeername()[0])


class _ProxyRefused(OSError):
    """The proxy did not open a CONNECT tunnel (its status line says why)."""


class _Connection(http.client.HTTPConnection):
    """One keep-alive HTTP/1.1 connection (TLS when `tls_name` is set, verified against that name); its socket
    is deadline-bound and `peer` is the address it reached. Through a `proxy`, `host`/`port` are the proxy's and,
    with `tunnel` (`host:port` of the target), the connection is a CONNECT tunnel to the target, TLS inside it."""

    def __init__(self, host: str, port: int, tls_name: str | None, connector: Connector,
                 connect_timeout: float, ca_file: str | None = None, proxy: Proxy | None = None,
                 tunnel: str | None = None) -> None:
        super().__init__(host, port)
        self.tls_name, self.connector, self.connect_timeout = tls_name, connector, connect_timeout
        self.ca_file, self.proxy, self.tunnel = ca_file, proxy, tunnel
        self.peer = ""
        self.idle_since = 0.0

    def connect(self) -> None:
        raw, self.peer = self.connector(self.host, self.port, _clamp(self.connect_timeout))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = _DeadlineSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        self.sock = sock
        if self.tunnel is not None:
            self._open_tunnel()
        if self.tls_name is not None:
            sock.settimeout(_clamp(self.connect_timeout))  # the handshake
            self.sock = _tls_context(self.ca_file).wrap_socket(sock, server_hostname=self.tls_name)

    def _open_tunnel(self) -> None:
        """CONNECT to the target through the proxy; raises _ProxyRefused unless it answers 2xx."""
        lines = [f"CONNECT {self.tunnel} HTTP/1.1", f"Host: {self.tunnel}"]
        if self.proxy is not None and self.proxy.authorization:
            lines.append(f"Proxy-Authorization: {self.proxy.authorization}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        # The target says nothing before our TLS hello, so nothing past the proxy's answer is read here.
        answer = http.client.HTTPResponse(self.sock, method="CONNECT")
        try:
            answer.begin()  # the status line and headers; a refusal's body is never read
        finally:
            answer.close()  # its reader only: the socket itself stays open, it is the tunnel
        if not 200 <= answer.status < 300:
            raise _ProxyRefused(f"proxy {self.proxy} answered {answer.status} {clean_line(answer.reason.strip())} "
                                f"to CONNECT {self.tunnel}")


_CONNECT_TIMEOUT = 10.0  # at most, for a new connection (and its TLS handshake)


class Client:
    """Keep-alive HTTP/1.1 connections for `fetch`, on the standard library's http.client: a conditional GET
    answering 304 costs much less CPU here than through httpcore or httpx, and those GETs are most of a quiet cycle
    (benchmarks/PERFORMANCE.md, "Costs behind choices in the code"). Idle connections are kept per origin for
    `keepalive_seconds` and dropped when the server has closed them. No cookies are kept: every GET stands
    alone. Thread-safe; close it (or use it as a context manager) when done. `connector` opens TCP connections
    (default: `socket.create_connection`; tests route addresses to a local server); `proxies` says which GETs go
    through an HTTP proxy (none by default)."""

    def __init__(self, timeout_seconds: float, user_agent: str, connector: Connector | None = None,
                 keepalive_seconds: float = 5.0, max_idle_per_origin: int = 8, ca_file: str | None = None,
                 proxies: ProxyRoutes | None = None) -> None:
        self.timeout_seconds = timeout_seconds
        self.ca_file = ca_file
        self.proxies = proxies
        self.user_agent = user_agent
        self.connector = connector or _tcp_connect
        self.keepalive_seconds, self.max_idle_per_origin = keepalive_seconds, max_idle_per_origin
        self._idle: dict[_PoolKey, list[_Connection]] = {}
        self._lock = threading.Lock()

    def _take(self, key: _PoolKey) -> _Connection | None:
        """The most recently used idle connection to `key` that is still open, or None."""
        while True:
            with self._lock:
                pool = self._idle.get(key)
                conn = pool.pop() if pool else None
            if conn is None:
                return None
            fresh = time.monotonic() - conn.idle_since < self.keepalive_seconds
            try:  # readable while idle: the server closed it (or sent something unasked): not reusable
                if fresh and conn.sock is not None:
                    poller = select.poll()  # poll, not select: no limit on the descriptor's number
                    poller.register(conn.sock, select.POLLIN)
                    if not poller.poll(0):
                        return conn
            except (OSError, ValueError):
                pass
            conn.close()

    def _give(self, key: _PoolKey, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            pool = self._idle.setdefault(key, [])
            if len(pool) < self.max_idle_per_origin:
                pool.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = list(self._idle.values()), {}
        for pool in pools:
            for conn in pool:
                conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.lru_cache(maxsize=4096)
def _hop_target(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, request target, Host header) of `url`: percent-encoded (IRIs in feeds), IDNA host.
    Cached: the same feed URLs are asked every cycle."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme
    port = parsed.port or (443 if scheme == "https" else 80)
    host = parsed.raw_host.decode("ascii")
    return scheme, host, port, parsed.raw_path.decode("ascii"), parsed.netloc.decode("ascii")


def _header_dict(raw: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with ', ' (as httpx does); control characters
    removed from the values (an ETag, a Location or a Content-Type is stored, sent back or printed)."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.lower()
        value = clean_line(value)
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _send(client: Client, url: str, pinned: str | None, headers: dict[str, str]
          ) -> tuple[_Connection, _PoolKey, http.client.HTTPResponse]:
    """Send the GET of one hop and read the response head. A kept-alive connection the server closed meanwhile
    (the request could not be sent, or no response came) is replaced by a new one, once."""
    try:
        scheme, host, port, target, netloc = _hop_target(url)
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise FetchRefused(url, "bad_url", str(exc)) from exc
    proxy = client.proxies.for_url(scheme, host) if client.proxies is not None else None
    tls_name = host if scheme == "https" else None  # https is never pinned: the certificate binds it to the name
    if pinned is not None and scheme == "http" and proxy is None:
        host = pinned  # connect to the address just checked, not to what the name resolves to a moment later
    # Through a proxy the request names the host (http) or the tunnel does (CONNECT name:port): a proxy takes the
    # target from the request line and drops a Host header that differs (tinyproxy does), and egress proxies
    # often allow destinations by name. The name was checked here first; what the proxy's resolver answers
    # for it is the proxy's to police (docs/reliability.md).
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    tunnel: str | None = None
    if proxy is None:
        key: _PoolKey = (scheme, host, port, netloc)
    elif scheme == "https":
        key, tunnel = ("https-tunnel", f"{proxy}>{authority}", port, netloc), authority
    else:  # plain http through a proxy: the request line carries the target; one connection serves every target
        key, target = ("http-proxy", str(proxy), 0, ""), f"http://{authority}{target}"
    for attempt in (0, 1):
        conn = client._take(key) if attempt == 0 else None
        reused = conn is not None
        if conn is None:
            conn = _Connection(proxy.host if proxy else host, proxy.port if proxy else port, tls_name,
                               client.connector, min(_CONNECT_TIMEOUT, client.timeout_seconds), client.ca_file,
                               proxy, tunnel)
        try:
            conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", netloc)
            if proxy is not None and tunnel is None and proxy.authorization:
                conn.putheader("Proxy-Authorization", proxy.authorization)
            conn.putheader("User-Agent", client.user_agent)
            conn.putheader("Accept-Encoding", "gzip, deflate")
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            return conn, key, conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if not reused:
                raise
        except BaseException:
            conn.close()
            raise
    raise AssertionError("unreachable")


def fetch(
    client: Client,
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

    Raises FeedUnavailable (transient: timeout, connection or protocol error, 5xx, 429) or FetchRefused
    (permanent: guard, size cap, bad encoding, other 4xx, redirect loop).
    """
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout_seconds
    current = url
    seen: set[str] = set()
    _DEADLINE.at = deadline  # every socket wait of the client's connections ends by then (_DeadlineSocket)
    try:
        for _hop in range(max_redirects + 1):
            pinned = resolve_url(current, allow_private_addresses)
            if current in seen:
                raise FetchRefused(url, "redirect_loop", f"{current} visited twice")
            seen.add(current)
            conn: _Connection | None = None
            try:
                conn, key, resp = _send(client, current, pinned, headers)
                if not allow_private_addresses and conn.peer and conn.proxy is None:  # a proxy may be private
                    peer = ipaddress.ip_address(conn.peer.split("%")[0])
                    label = forbidden_reason(peer)
                    if label:
                        raise _refuse_address(url, urlsplit(current).hostname or "", peer, label)
                status = resp.status
                resp_headers = _header_dict(resp.getheaders())
                if status in REDIRECT_CODES and "location" in resp_headers:
                    current = urljoin(current, resp_headers["location"].strip())
                    continue  # its body unread: the connection is closed (finally below)
                if status == 429 or status >= 500:
                    raise FeedUnavailable(url, f"http_{status}", resp.reason,
                                          retry_after_seconds=parse_retry_after(resp_headers.get("retry-after")))
                if status >= 400:
                    raise FetchRefused(url, f"http_{status}", resp.reason)
                declared = resp_headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchRefused(url, "too_large", f"Content-Length {declared} > {max_bytes} bytes")
                decoder = _Decoder(url, resp_headers.pop("content-encoding", ""))  # the body is returned decoded
                chunks: list[bytes] = []
                size = 0
                while raw := resp.read1(65536):
                    for chunk in decoder.feed(raw, max_bytes - size):
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchRefused(url, "too_large", f"body over {max_bytes} bytes")
                        chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise FeedUnavailable(url, "timeout", f"body not complete after {timeout_seconds:g} s")
                if resp.length:  # the server closed the connection before the declared length arrived
                    raise http.client.IncompleteRead(b"".join(chunks), resp.length)
                resp.close()  # read to the end (read1 leaves a finished response open)
                if resp.will_close:
                    conn.close()
                else:
                    client._give(key, conn)  # read to the end: the next GET to this origin reuses it
                conn = None
                return Response(url=url, final_url=current, status=status, body=b"".join(chunks),
                                headers=resp_headers)
            except TimeoutError as exc:
                raise FeedUnavailable(url, "timeout", str(exc) or "timed out") from exc
            except _ProxyRefused as exc:
                raise FeedUnavailable(url, "proxy_error", str(exc)) from exc
            except http.client.HTTPException as exc:  # not HTTP, a broken chunk, a cut body, 100+ headers
                raise FeedUnavailable(url, "protocol_error", str(exc) or type(exc).__name__) from exc
            except OSError as exc:  # refused, reset, unreachable, DNS, TLS (a certificate error too)
                raise FeedUnavailable(url, "connection_error", str(exc) or type(exc).__name__) from exc
            except ValueError as exc:  # what we would send is not valid HTTP (a control character in the URL)
                raise FetchRefused(url, "bad_url", str(exc) or type(exc).__name__) from exc
            finally:
                if conn is not None:
                    conn.close()  # an error or an unread body: never reused
    finally:
        _DEADLINE.at = None
    raise FetchRefused(url, "too_many_redirects", f"more than {max_redirects}")


def make_client(timeout_seconds: float, user_agent: str, connector: Connector | None = None,
                ca_file: str | None = None, proxies: ProxyRoutes | None = None) -> Client:
    """A keep-alive client for `fetch` (the total-time limit holds on every socket wait); the caller closes it.
    `connector` opens TCP connections (default: plain sockets; tests route addresses to a local server);
    `ca_file` adds certificate authorities to trust for https (fetch.ca_file); `proxies` routes GETs through
    HTTP proxies (fetch.proxy, HTTPS_PROXY / HTTP_PROXY / NO_PROXY)."""
    return Client(timeout_seconds, user_agent, connector, ca_file=ca_file, proxies=proxies)

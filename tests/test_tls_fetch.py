"""https through the fetch client against a real TLS server on 127.0.0.1, its certificate signed by an authority
made for the test: unknown, it is refused; trusted through `fetch.ca_file`, the certificate is verified against
the name, the connection is kept alive, and the GET's deadline holds inside TLS as it does on plain sockets."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline import web
from pipeline.errors import FeedUnavailable


def _certificate(subject: str, issuer: x509.Name | None, issuer_key: ec.EllipticCurvePrivateKey | None,
                 *, ca: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256()), key


class TLSServer:
    """A keep-alive HTTPS server for `localhost` on 127.0.0.1; `/feed.xml` answers, `/slow.xml` trickles."""

    def __init__(self, tmp: Path) -> None:
        ca_cert, ca_key = _certificate("newswatch test CA", None, None, ca=True)
        leaf, leaf_key = _certificate("localhost", ca_cert.subject, ca_key, ca=False)
        self.ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        (tmp / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        server = self
        self.connections = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def do_GET(self) -> None:  # noqa: N802
                body = b"<rss version='2.0'><channel><title>tls</title></channel></rss>"
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path == "/slow.xml":
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.5)
                else:
                    self.wfile.write(body)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp / "leaf.pem")
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    server = TLSServer(tmp_path_factory.mktemp("tls"))
    yield server
    server.close()


def get(client: web.Client, url: str, timeout: float = 5) -> web.Response:
    return web.fetch(client, url, max_bytes=10**6, timeout_seconds=timeout, max_redirects=0,
                     allow_private_addresses=True)


def test_a_certificate_from_an_unknown_authority_is_refused(tls_server: TLSServer) -> None:
    with web.make_client(5, "t") as client, pytest.raises(FeedUnavailable, match="connection_error.*CERTIFICATE"):
        get(client, tls_server.url + "/feed.xml")


def test_https_is_verified_kept_alive_and_held_to_its_deadline(tls_server: TLSServer, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(tls_server.ca_pem)  # fetch.ca_file: an internal CA, trusted besides certifi's
    with web.make_client(5, "t", ca_file=str(tmp_path / "ca.pem")) as client:
        first = get(client, tls_server.url + "/feed.xml")
        before = tls_server.connections
        again = get(client, tls_server.url + "/feed.xml")
        assert first.status == again.status == 200 and b"<title>tls</title>" in again.body
        assert tls_server.connections == before  # the TLS connection was reused
        started = time.monotonic()
        with pytest.raises(FeedUnavailable, match="timeout"):
            get(client, tls_server.url + "/slow.xml", timeout=1.5)
        assert time.monotonic() - started < 2.5

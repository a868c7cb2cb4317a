"""Real receivers for the delivery tests: an aiosmtpd SMTP server and a ThreadingHTTPServer webhook receiver,
each on a free loopback port, plus a small warehouse seeded through the store's own write functions."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

import warehouse.articles
import warehouse.connection
import warehouse.incidents
from pipeline.models import AssignmentRecord, Extraction, FeedEntry, IncidentRecord, stable_id

HOSTILE = 'Drones <script>alert(1)</script> over\r\nBcc: victim@example.org\r\n\r\nPoland & "friends"'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """aiosmtpd handler: keeps every accepted message; `refuse_data` makes DATA answer with that reply."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_data: str | None = None
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            self.refused += 1
            return self.refuse_data
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content,
                                                policy=default_policy))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), Mailbox())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers POSTs from `script` (status, headers) in order, then 200; records every request."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay_seconds: float = 0.0


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if receiver.delay_seconds:
                threading.Event().wait(receiver.delay_seconds)
            status, headers = receiver.script.pop(0) if receiver.script else (200, {})
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def seed_incident(path: str, incident_id: str, title: str, country: str | None, intruder: str | None,
                  reports: list[tuple[str, str, str, datetime, str]]) -> None:
    """An incident and its articles (feed, title, url, published, text), the first one opening it, written with
    the store's own functions."""
    now = datetime.now(UTC)
    with warehouse.connection.open_warehouse(path) as con:
        records = []
        for n, (feed, art_title, url, published, text) in enumerate(reports):
            entry = FeedEntry(stable_id(url), feed, url, url, art_title, text[:200], published, "en")
            warehouse.articles.save_article(con, entry, None, Extraction("ok", "", art_title, text, published, "en", "precision"),
                               fetched_at=now)
            records.append(AssignmentRecord(entry.entry_id, incident_id, 1.0, None, n == 0, {}))
        first = records[0].article_id
        warehouse.incidents.save_assignments(con, [IncidentRecord(incident_id, title, first, reports[0][3], country, intruder)],
                               records, (0, []), now)


LEDE = ("Several Russian drones entered Polish airspace overnight and were shot down by allied jets. "
        "Warsaw airport halted flights for several hours. Poland requested NATO consultations.")


def seed_two_incidents(path: str, hostile: bool = False) -> None:
    t0 = datetime(2025, 9, 10, 4, 30, tzinfo=UTC)
    seed_incident(path, "inc-pl", HOSTILE if hostile else "Russian drones enter Polish airspace", "Poland", "drones", [
        ("baltic-wire", HOSTILE if hostile else "Russian drones enter Polish airspace",
         "https://baltic.example/pl-drones", t0, LEDE),
        ("nordic-times", "Poland shoots down drones", "https://nordic.example/pl", t0.replace(hour=6), LEDE),
    ])
    seed_incident(path, "inc-ee", "MiG-31s violate Estonian airspace", "Estonia", "fighter jets", [
        ("defense-desk", "MiG-31s violate Estonian airspace", "https://defense.example/ee",
         datetime(2025, 9, 19, 12, tzinfo=UTC), "Three Russian MiG-31 fighters entered Estonian airspace. "
         "They stayed for twelve minutes."),
    ])


def raise_outbox(settings: Any) -> None:
    """Create the outbox rows for every channel (the cycle's raise-alerts task, called without Prefect)."""
    from flows.stages import raise_alerts

    raise_alerts.fn(settings)

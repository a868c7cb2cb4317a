"""Delivery through the outbox against real receivers: nothing lost, nothing doubled, channels independent,
the digest once per day; and (slow) a whole dev-corpus replay with the mail server down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import warehouse.connection
import warehouse.outbox
import warehouse.queries
from flows.cli import main
from flows.deliver import LEASE, EmailChannel, WebhookChannel, deliver_outbox
from pipeline.settings import load_settings
from tests.outbox_servers import (  # noqa: F401
    SmtpServer,
    WebhookReceiver,
    free_port,
    raise_outbox,
    seed_two_incidents,
    smtp_server,
    webhook_receiver,
)

DIGEST_DAY = "2025-09-10"


def settings_for(tmp_path: Path, smtp_port: int, channels: list[dict[str, Any]], **alerts: Any) -> Any:
    return load_settings([], environ={}, overrides={
        "warehouse": {"path": str(tmp_path / "nw.duckdb"), "busy_timeout_seconds": 5},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout_seconds": 5},
        "alerts": {"channels": channels, **alerts},
    })


MAIL = {"name": "desk-mail", "type": "email", "to": ["desk@example.org"]}


def rows(settings: Any, sql: str) -> list[tuple[Any, ...]]:
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        return warehouse.queries.query(con, sql)[1]


def test_smtp_refusing_then_recovering_loses_nothing_and_doubles_nothing(tmp_path: Path,
                                                                          smtp_server: SmtpServer) -> None:
    s = settings_for(tmp_path, smtp_server.port, [MAIL])
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    now = datetime.now(UTC)
    smtp_server.mailbox.refuse_data = "451 4.7.1 Greylisted, try again"
    assert deliver_outbox(s, now=now).sent == []
    smtp_server.stop()  # then the server goes away altogether
    assert deliver_outbox(s, now=now + timedelta(hours=2)).sent == []
    smtp_server.mailbox.refuse_data = None
    smtp_server.start()
    assert len(deliver_outbox(s, now=now + timedelta(hours=4)).sent) == 2
    assert deliver_outbox(s, now=now + timedelta(hours=8)).sent == []
    assert deliver_outbox(s, retry_now=True).sent == []
    ids = smtp_server.mailbox.message_ids()
    assert len(ids) == 2 and len(set(ids)) == 2
    assert rows(s, "SELECT status, attempts FROM v_alerts ORDER BY incident_id") == [("sent", 1), ("sent", 3)]  # inc-ee waited untried behind inc-pl


def test_a_crash_between_send_and_mark_repeats_the_same_message_id(tmp_path: Path, smtp_server: SmtpServer,
                                                                   webhook_receiver: WebhookReceiver) -> None:
    hook = {"name": "hook", "type": "webhook", "url": webhook_receiver.url}
    s = settings_for(tmp_path, smtp_server.port, [MAIL, hook])
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    now = datetime.now(UTC)
    # the "crashed" deliverer: claims the rows, sends the first of each channel, dies before marking
    with warehouse.connection.open_warehouse(s.warehouse.path) as con:
        mail_items = warehouse.outbox.claim_due_alerts(con, "desk-mail", now, now + LEASE)
        hook_items = warehouse.outbox.claim_due_alerts(con, "hook", now, now + LEASE)
    email = EmailChannel(s, s.alerts.channels[0])
    email.send_alert(mail_items[0], now)
    email.close()
    web = WebhookChannel(s, s.alerts.channels[1])
    web.send_alert(hook_items[0], now)
    web.close()
    # a deliverer running meanwhile leaves the claimed rows alone
    assert deliver_outbox(s, now=now + timedelta(seconds=1)).sent == []
    # after the lease the rows are sent again: the receivers see the repeat under the same id and can drop it
    report = deliver_outbox(s, now=now + LEASE + timedelta(seconds=1))
    assert len(report.sent) == 4
    ids = smtp_server.mailbox.message_ids()
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]
    keys = [r.headers["idempotency-key"] for r in webhook_receiver.requests]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
    assert deliver_outbox(s, retry_now=True).sent == []


def test_one_failing_channel_does_not_block_the_others(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    channels = [MAIL, {"name": "hook", "type": "webhook", "url": webhook_receiver.url},
                {"name": "estonia", "type": "webhook", "url": webhook_receiver.url, "countries": ["Estonia"]}]
    s = settings_for(tmp_path, free_port(), channels)  # nothing listens on the SMTP port
    seed_two_incidents(s.warehouse.path)
    raise_outbox(s)
    report = deliver_outbox(s)
    assert sorted(x.split(":")[0] for x in report.sent) == ["estonia", "hook", "hook"]
    assert all(x.startswith("desk-mail") for x in report.retrying)
    err = rows(s, "SELECT last_error FROM v_alerts WHERE channel = 'desk-mail' AND attempts = 1")
    assert err and "connection_error" in err[0][0]


def test_the_digest_is_sent_once_per_day_and_again_only_if_it_failed(tmp_path: Path,
                                                                     smtp_server: SmtpServer) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\nbusy_timeout_seconds = 5\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\nsecurity = "none"\n'
        f'[digest]\nout_dir = "{tmp_path / "out"}"\ntimezone = "Europe/Warsaw"\nsend_time = "07:00"\n'
        '[alerts]\nchannels = [{ name = "desk-mail", type = "email", to = ["desk@example.org"], digest = true }]\n',
        encoding="utf-8")
    s = load_settings([config], environ={})
    seed_two_incidents(s.warehouse.path)
    with warehouse.connection.open_warehouse(s.warehouse.path) as con:  # the first cycle ran on the 9th
        warehouse.outbox.register_channels(con, [("desk-mail", "email")], datetime(2025, 9, 9, 6, tzinfo=UTC))
    smtp_server.mailbox.refuse_data = "554 5.7.1 Rejected"
    # the cycle's delivery pass at 07:30 Warsaw on the 11th queues the digest of the 10th; the server rejects it
    report = deliver_outbox(s, now=datetime(2025, 9, 11, 5, 30, tzinfo=UTC))
    assert report.digests_queued == [f"desk-mail: {DIGEST_DAY}"] and len(report.failed) == 1
    assert deliver_outbox(s, now=datetime(2025, 9, 11, 9, tzinfo=UTC), retry_now=True).digests_queued == []
    smtp_server.mailbox.refuse_data = None
    runner = CliRunner()
    sent = runner.invoke(main, ["digest", "-c", str(config), "--date", DIGEST_DAY, "--send",
                                "--out", str(tmp_path / "d.html")], catch_exceptions=False)
    assert sent.exit_code == 0, sent.output
    again = runner.invoke(main, ["digest", "-c", str(config), "--date", DIGEST_DAY, "--send"])
    assert again.exit_code == 0 and "sent 0" in again.output
    [msg] = smtp_server.mailbox.messages
    assert msg["Subject"].startswith(f"[newswatch] Daily digest {DIGEST_DAY}: 1 new incident")
    assert {p.get_content_type() for p in msg.iter_parts()} == {"text/plain", "text/html"}
    assert "Russian drones enter Polish airspace" in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert (tmp_path / "d.html").is_file() and (tmp_path / "d.txt").is_file()
    assert rows(s, "SELECT status FROM v_digests") == [("sent",)]


@pytest.mark.slow
def test_after_a_replay_with_smtp_down_one_pass_sends_one_mail_per_incident(
        tmp_path: Path, replayed: dict[str, Any]) -> None:
    """The whole dev corpus was replayed (the session's `replayed` fixture) while nothing listened on the SMTP
    port of its e-mail channel; on a copy of that warehouse the mail server comes up."""
    import shutil

    from tests.outbox_servers import Mailbox

    port = replayed["smtp_port"]
    shutil.copy(replayed["tmp"] / "nw.duckdb", tmp_path / "nw.duckdb")
    s = settings_for(tmp_path, port, [MAIL], max_attempts=50)
    incidents = rows(s, "SELECT count(*) FROM v_incidents WHERE status = 'open'")[0][0]
    pending = rows(s, "SELECT count(*), min(attempts), max(attempts) FROM v_alerts "
                      "WHERE status = 'pending' AND channel = 'desk-mail'")[0]
    assert pending[0] == incidents > 0 and pending[2] >= 1  # all waiting; tried while down
    server = SmtpServer(port, Mailbox())
    server.start()
    try:
        first = deliver_outbox(s, retry_now=True)
        second = deliver_outbox(s, retry_now=True)
    finally:
        server.stop()
    ids = server.mailbox.message_ids()
    assert len(first.sent) == incidents == len(ids) == len(set(ids))
    assert second.sent == [] and second.retrying == [] and second.failed == []
    assert all(m["Subject"].startswith("[newswatch] New incident: ") for m in server.mailbox.messages)
    print(f"incidents {incidents}; attempts while down {pending[1]}..{pending[2]}; mails {len(ids)}; "
          f"second pass {len(second.sent)}")

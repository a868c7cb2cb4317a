"""E-mail: the message sent to a real SMTP server (aiosmtpd) and parsed back; SMTP errors mapped to our classes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.alerts import AlertDetail, SourceRef
from pipeline.errors import ConfigInvalid, SmtpRejected, SmtpUnavailable
from pipeline.mailer import IDEMPOTENCY_HEADER, SmtpSender, build_alert_email
from pipeline.models import Alert
from pipeline.outbox import alert_message_id
from pipeline.settings import SmtpSettings
from tests.outbox_servers import HOSTILE, LEDE, SmtpServer, free_port, smtp_server  # noqa: F401

T0 = datetime(2025, 9, 10, 4, 30, tzinfo=UTC)


def detail(title: str = "Russian drones enter Polish airspace", url: str = "https://baltic.example/pl") -> AlertDetail:
    alert = Alert("a1b2c3d4e5f60718", "inc-pl", "art-1", "desk", "pending", T0, title, "Poland", "drones", url,
                  title, "baltic-wire", T0)
    others = (SourceRef("nordic-times", "Poland shoots down <b>drones</b>", "https://nordic.example/pl", T0),)
    return AlertDetail(alert, LEDE, others, 2)


def smtp(server: SmtpServer, **kw: object) -> SmtpSettings:
    return SmtpSettings.model_validate({"host": "127.0.0.1", "port": server.port, "security": "none",
                                        "timeout_seconds": 5, **kw})


def send(server: SmtpServer, d: AlertDetail, to: list[str] | None = None) -> None:
    to = to or ["desk@example.org"]
    msg = build_alert_email(d, sender="newswatch@example.org", to=to,
                            message_id=alert_message_id(d.alert.alert_id), date=T0)
    with SmtpSender(smtp(server), "desk") as sender:
        sender.send(msg, to)


def test_an_alert_mail_is_text_and_html_with_subject_and_a_stable_message_id(smtp_server: SmtpServer) -> None:
    send(smtp_server, detail())
    [msg] = smtp_server.mailbox.messages
    assert msg["Subject"] == "[newswatch] New incident: Russian drones enter Polish airspace (Poland · drones)"
    assert msg["Message-ID"] == "<a1b2c3d4e5f60718.alert@newswatch>"
    assert msg[IDEMPOTENCY_HEADER] == "a1b2c3d4e5f60718"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for needed in ("First report: Russian drones enter Polish airspace", "baltic-wire", "2025-09-10 04:30 UTC",
                   "https://baltic.example/pl", "Country:      Poland", "Intruder:     drones",
                   "Several Russian drones entered Polish airspace overnight and were shot down by allied jets. "
                   "Warsaw airport halted flights for several hours.", "Sources so far: 2", "nordic-times"):
        assert needed in text, needed
    assert "Poland requested NATO" not in text  # two sentences, not three
    assert "Incident:     inc-pl" in text and ">inc-pl</td>" in html
    for command in ('newswatch incident dismiss inc-pl --reason "false alarm"',
                    'newswatch incident merge KEEP-ID inc-pl --reason "same episode"'):
        assert command in text and command.replace('"', "&#34;") in html, command
    assert 'href="https://baltic.example/pl"' in html and "Poland shoots down &lt;b&gt;drones&lt;/b&gt;" in html


def test_a_hostile_title_arrives_inert_in_the_mail(smtp_server: SmtpServer) -> None:
    send(smtp_server, detail(HOSTILE, url="javascript:alert(1)"))
    [msg] = smtp_server.mailbox.messages
    assert msg["Bcc"] is None and "victim@example.org" not in str(msg["To"])
    assert smtp_server.mailbox.envelopes[0][1] == ["desk@example.org"]
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert "Bcc: victim@example.org" in msg["Subject"]  # kept as visible text of the one-line subject
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html.replace("&lt;script&gt;alert(1)", "")  # not linked
    assert "&amp; &#34;friends&#34;" in html


def test_smtp_4xx_is_transient_and_5xx_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.mailbox.refuse_data = "451 4.3.0 Try again later"
    with pytest.raises(SmtpUnavailable, match="smtp_451"):
        send(smtp_server, detail())
    smtp_server.mailbox.refuse_data = "554 5.6.0 Message refused"
    with pytest.raises(SmtpRejected, match="smtp_554"):
        send(smtp_server, detail())
    assert smtp_server.mailbox.messages == []


def test_a_closed_port_is_unavailable_not_rejected() -> None:
    server = SmtpServer(free_port(), mailbox=None)  # type: ignore[arg-type]  # never started
    with pytest.raises(SmtpUnavailable, match="connection_error"):
        send(server, detail())


def test_starttls_to_a_server_without_it_is_refused_not_sent_in_clear(smtp_server: SmtpServer) -> None:
    with pytest.raises(SmtpRejected, match="not_supported"), \
            SmtpSender(smtp(smtp_server, security="starttls"), "desk") as sender:
        sender.send(build_alert_email(detail(), sender="n@example.org", to=["d@example.org"], message_id="<x@y>",
                                      date=T0), ["d@example.org"])
    assert smtp_server.mailbox.messages == []


def test_a_login_without_a_password_in_the_environment_is_a_config_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(ConfigInvalid, match="NEWSWATCH_SMTP__PASSWORD"):
        SmtpSender(smtp(smtp_server, username="newswatch"), "desk")


def test_alert_times_are_in_the_desk_time_zone_with_utc_beside() -> None:
    msg = build_alert_email(detail(), sender="n@example.org", to=["d@example.org"], message_id="<x@y>", date=T0,
                            timezone="Europe/Warsaw")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Published:    2025-09-10 06:30 CEST (04:30 UTC)" in text
    assert "(nordic-times, 2025-09-10 06:30 CEST)" in text


def test_the_readme_five_line_email_setup_mails_the_desk_alerts_and_digests(tmp_path: Path) -> None:
    from pipeline.defaults import DEFAULT_CONFIG
    from pipeline.settings import PROJECT_ROOT, load_settings

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Alerts and the daily digest by e-mail")[1].split("```toml\n")[1].split("```")[0]
    assert len(block.strip().splitlines()) == 5
    (tmp_path / "local.toml").write_text(block, encoding="utf-8")
    s = load_settings([DEFAULT_CONFIG, tmp_path / "local.toml"],
                      environ={"NEWSWATCH_SMTP__PASSWORD": "secret"})
    [desk] = [c for c in s.alerts.channels if c.type == "email"]
    assert desk.to == ["desk@example.org"] and desk.digest and s.smtp.host == "smtp.example.org"
    assert s.smtp.username and s.smtp.password is not None and s.smtp.security == "starttls"
    assert any(c.type == "log" for c in s.alerts.channels)  # `newswatch run` still prints each alert

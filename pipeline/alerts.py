"""Alert stage, pure part: decide which incidents alert and say what an alert says (subject, text).

No I/O: delivery lives in the flows (log channel) and in the mailer/webhook senders. Every feed string is
treated as hostile: collapsed to one line where it could reach a header, escaped where it reaches HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from html import escape

from pipeline.models import Alert


def alert_subject(alert: Alert) -> str:
    """`[newswatch] New incident: <title> (<country> · <intruder>)`, single line (no header injection)."""
    tags = " · ".join(t for t in (alert.country, alert.intruder) if t)
    title = " ".join(alert.incident_title.split())
    return f"[newswatch] New incident: {title}" + (f" ({tags})" if tags else "")


def alert_text(alert: Alert) -> str:
    """The plain-text body of an alert: first report, outlet, time, link, country and intruder."""
    lines = [
        alert_subject(alert).removeprefix("[newswatch] "),
        f"  first report: {' '.join(alert.article_title.split())}",
        f"  outlet: {alert.feed}   published: {alert.published_at:%Y-%m-%d %H:%M} UTC",
        f"  link: {alert.article_url}",
    ]
    if alert.country or alert.intruder:
        lines.append(f"  country: {alert.country or 'unknown'}   intruder: {alert.intruder or 'unknown'}")
    return "\n".join(lines)


@dataclass(frozen=True)
class SourceRef:
    """Another outlet's article about the incident."""

    feed: str
    title: str
    url: str
    published_at: datetime


@dataclass(frozen=True)
class AlertDetail:
    """An alert with what its message says beyond the Alert row: the first report's lead and the other sources
    so far (read when the message is sent, so a late delivery lists more)."""

    alert: Alert
    first_text: str
    other_sources: tuple[SourceRef, ...]
    source_count: int  # distinct feeds so far


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'»”)]?\s+(?=[A-Z0-9\"'«“(À-Ž])")


def summarize(text: str, sentences: int = 2, max_chars: int = 400) -> str:
    """The first `sentences` sentences of `text` (whitespace collapsed), cut at `max_chars` with an ellipsis."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    parts = _SENTENCE_END.split(flat)
    out = " ".join(parts[:sentences])
    if len(out) > max_chars:
        out = out[:max_chars].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return out


def _one_line(value: str) -> str:
    return " ".join(value.split())


def safe_url(url: str) -> str | None:
    """The URL when it is a plain http(s) link, else None (no javascript:, data:, or whitespace tricks)."""
    u = url.strip()
    if not u.lower().startswith(("http://", "https://")) or any(c.isspace() or ord(c) < 32 for c in u):
        return None
    return u


def render_alert_text(detail: AlertDetail) -> str:
    """Plain-text e-mail body: first report (title, outlet, time, link), two-sentence summary, country,
    intruder and the other sources so far."""
    a = detail.alert
    lines = [
        f"New incident: {_one_line(a.incident_title)}",
        "",
        f"First report: {_one_line(a.article_title)}",
        f"Outlet:       {_one_line(a.feed)}",
        f"Published:    {a.published_at:%Y-%m-%d %H:%M} UTC",
        f"Link:         {_one_line(a.article_url)}",
        f"Country:      {_one_line(a.country or 'unknown')}",
        f"Intruder:     {_one_line(a.intruder or 'unknown')}",
    ]
    summary = summarize(detail.first_text)
    if summary:
        lines += ["", summary]
    lines += ["", f"Sources so far: {detail.source_count}"]
    for s in detail.other_sources:
        lines.append(f"  * {_one_line(s.title)} ({_one_line(s.feed)}, {s.published_at:%Y-%m-%d %H:%M} UTC)")
        lines.append(f"    {_one_line(s.url)}")
    if not detail.other_sources:
        lines.append("  (no other outlet yet)")
    lines += ["", "-- ", "newswatch: one alert per new incident. Follow-ups go to the daily digest."]
    return "\n".join(lines) + "\n"


def _link(url: str, label: str) -> str:
    safe = safe_url(url)
    if safe is None:
        return escape(label)
    return f'<a href="{escape(safe, quote=True)}" style="color:#0969da">{escape(label)}</a>'


def render_alert_html(detail: AlertDetail) -> str:
    """HTML e-mail body (inline CSS only, no scripts or remote resources); every feed string escaped and
    only http(s) links made clickable."""
    a = detail.alert
    muted = "color:#57606a;font-size:13px"
    tags = "".join(
        f' <span style="display:inline-block;background:#ddf4ff;color:#0550ae;border-radius:10px;'
        f'padding:1px 8px;font-size:12px">{escape(t)}</span>' for t in (a.country, a.intruder) if t)
    rows = "".join(
        f'<tr><td style="{muted};padding:2px 12px 2px 0">{k}</td><td style="padding:2px 0">{v}</td></tr>'
        for k, v in (
            ("First report", _link(a.article_url, _one_line(a.article_title))),
            ("Outlet", escape(_one_line(a.feed))),
            ("Published", f"{a.published_at:%Y-%m-%d %H:%M} UTC"),
            ("Country", escape(a.country or "unknown")),
            ("Intruder", escape(a.intruder or "unknown")),
        ))
    summary = summarize(detail.first_text)
    others = "".join(
        f'<li style="margin:0 0 4px 0">{_link(s.url, _one_line(s.title))}'
        f'<span style="{muted}"> · {escape(s.feed)}, {s.published_at:%Y-%m-%d %H:%M} UTC</span></li>'
        for s in detail.other_sources) or f'<li style="{muted}">no other outlet yet</li>'
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="margin:0;padding:16px;background:#f6f8fa;font-family:Helvetica,Arial,sans-serif;color:#1f2328">'
        '<div style="max-width:640px;margin:0 auto;background:#ffffff;border:1px solid #d8dee4;border-radius:6px;'
        'padding:16px 18px">'
        f'<div style="{muted};text-transform:uppercase;letter-spacing:.05em">newswatch · new incident</div>'
        f'<h1 style="font-size:19px;margin:6px 0 10px 0">{escape(_one_line(a.incident_title))}{tags}</h1>'
        f'<table role="presentation" cellpadding="0" cellspacing="0" style="font-size:14px">{rows}</table>'
        + (f'<p style="font-size:14px;line-height:1.45;margin:12px 0">{escape(summary)}</p>' if summary else "")
        + f'<div style="font-size:14px;font-weight:bold;margin:12px 0 4px 0">Sources so far: {detail.source_count}</div>'
        f'<ul style="padding-left:18px;margin:0;font-size:14px">{others}</ul>'
        f'<p style="{muted};margin:14px 0 0 0">One alert per new incident; follow-ups go to the daily digest.</p>'
        "</div></body></html>"
    )

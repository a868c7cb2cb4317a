"""Alert stage, pure part: decide which incidents alert and say what an alert says (subject, text).

No I/O: delivery lives in the flows (log channel) and, later, in mailer/webhook senders.
"""

from __future__ import annotations

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

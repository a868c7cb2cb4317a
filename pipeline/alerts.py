"""Alert stage, pure part: decide which incidents alert and say what an alert says (subject, text).

No I/O: delivery lives in the flows (log channel) and in the mailer/webhook senders. Every feed string is
treated as hostile: collapsed to one line where it could reach a header, escaped where it reaches HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pipeline.models import Alert
from pipeline.rendering import Clock, render


def alert_subject(alert: Alert) -> str:
    """`[newswatch] New incident: <title> (<country> · <intruder>)`, single line (no header injection)."""
    tags = " · ".join(t for t in (alert.country, alert.intruder) if t)
    title = " ".join(alert.incident_title.split())
    return f"[newswatch] New incident: {title}" + (f" ({tags})" if tags else "")


def alert_text(alert: Alert) -> str:
    """The lines `newswatch run` prints for an alert: first report, outlet, time, link, incident id, country and
    intruder."""
    lines = [
        alert_subject(alert).removeprefix("[newswatch] "),
        f"  first report: {' '.join(alert.article_title.split())}",
        f"  outlet: {alert.feed}   published: {alert.published_at:%Y-%m-%d %H:%M} UTC",
        f"  link: {alert.article_url}",
        f"  incident: {alert.incident_id}",
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



@dataclass(frozen=True)
class AlertSources:
    """What the warehouse holds for an alert's message: its row, the first report's text and the incident's
    other articles so far, in publication order (several may come from one outlet)."""

    alert: Alert
    first_text: str
    other_articles: tuple[SourceRef, ...]


def alert_detail(sources: AlertSources, max_sources: int = 10) -> AlertDetail:
    """What an alert's message says beyond its row: the first report's text and one line per other outlet (that
    outlet's first article), at most `max_sources` lines; the source count is every distinct feed, the alert's
    own included."""
    seen = {sources.alert.feed}
    others = []
    for ref in sources.other_articles:
        if ref.feed not in seen:
            seen.add(ref.feed)
            others.append(ref)
    return AlertDetail(sources.alert, sources.first_text, tuple(others[:max_sources]), len(seen))


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


def dismiss_command(incident_id: str) -> str:
    """The CLI line that dismisses an incident (flows/cli_analyst.py `incident dismiss`)."""
    return f'newswatch incident dismiss {incident_id} --reason "false alarm"'


def merge_command(incident_id: str) -> str:
    """The CLI line that folds an incident into another one, KEEP (flows/cli_analyst.py `incident merge KEEP FOLD`)."""
    return f"newswatch incident merge KEEP-ID {incident_id} --reason \"same episode\""


def _alert_context(detail: AlertDetail, timezone: str) -> dict[str, object]:
    return {"detail": detail, "a": detail.alert, "subject": alert_subject(detail.alert), "clock": Clock(timezone),
            "summary": summarize(detail.first_text), "dismiss": dismiss_command(detail.alert.incident_id),
            "merge": merge_command(detail.alert.incident_id)}


def render_alert_text(detail: AlertDetail, timezone: str = "UTC") -> str:
    """Plain-text e-mail body (template alert.txt): the incident id, first report (title, outlet, time in
    `timezone`, link), two-sentence summary, country, intruder, the other sources so far, and the commands that
    dismiss the incident or merge it into another. Raises ConfigInvalid for an unknown time zone."""
    return render("alert.txt", **_alert_context(detail, timezone))


def render_alert_html(detail: AlertDetail, timezone: str = "UTC") -> str:
    """HTML e-mail body (template alert.html): what render_alert_text says, inline CSS only, no scripts or
    remote resources; every feed string escaped and only http(s) links made clickable."""
    return render("alert.html", **_alert_context(detail, timezone))

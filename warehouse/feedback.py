"""The feedback table: every analyst action (dismiss, merge, split, add, mute, feed add/remove), recorded."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from pipeline.models import stable_id


def insert_feedback(con: duckdb.DuckDBPyConnection, action: str, incident_id: str | None, target: str | None,
                    details: dict[str, object], reason: str | None, actor: str, at: datetime) -> None:
    fid = stable_id("feedback", action, incident_id or "", target or "", at.isoformat())
    con.execute("INSERT INTO feedback (feedback_id, action, incident_id, target, details, reason, actor, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [fid, action, incident_id, target, json.dumps(details), reason, actor, at])

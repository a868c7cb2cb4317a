"""What a monitor cycle did: each stage's result, and the cycle's report that the flow assembles from them (the
summary `newswatch run` prints, the row of the `cycles` table).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.health import CycleRecord, cycle_outcome
from pipeline.models import Alert

# A stage stopped by an error after storing part of its work says what it stored on the error itself (as
# http.client.IncompleteRead carries `partial`): the error goes on unchanged, and the cycle's report still counts
# what stays stored (its alerts already logged, its feeds that answered).
_PARTIAL = "newswatch_partial_result"


def attach_partial(exc: BaseException, result: Any) -> None:
    """Mark `exc`, which stopped a stage, with the stage's result so far."""
    setattr(exc, _PARTIAL, result)


def partial_result(exc: BaseException) -> Any:
    """The result so far that a stage attached to the error that stopped it; None when it attached none."""
    return getattr(exc, _PARTIAL, None)


@dataclass(frozen=True)
class PollResult:
    """The poll stage: feeds due, how each answered, and the entries they brought."""

    feeds_due: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: dict[str, str] = field(default_factory=dict)  # feed name -> error
    feeds_muted: int = 0  # not polled: an analyst muted them
    feeds_backing_off: int = 0  # not polled: failing, their next try is later
    new_entries: int = 0


@dataclass(frozen=True)
class JudgeResult:
    judged: int = 0
    relevant: int = 0


@dataclass(frozen=True)
class AssignResult:
    assigned: int = 0
    incidents_opened: int = 0
    embedded: int = 0  # the engine's own vectors, made for relevant articles before assigning them


@dataclass(frozen=True)
class CycleReport:
    feeds_due: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: dict[str, str] = field(default_factory=dict)
    feeds_muted: int = 0
    feeds_backing_off: int = 0
    new_entries: int = 0
    articles: dict[str, int] = field(default_factory=dict)  # status -> count
    embedded: int = 0
    judged: int = 0
    relevant: int = 0
    assigned: int = 0
    incidents_opened: int = 0
    alerts: list[Alert] = field(default_factory=list)
    stopped: bool = False  # interrupted between stages
    delivered: bool = False  # the outbox stage changed something (sent, retried, failed, queued a digest)
    failed_stage: str | None = None  # the stage that raised (the cycle stopped there)
    error: str | None = None

    @property
    def outcome(self) -> str:
        """ok / degraded / down (pipeline/health.py); the exit code of `newswatch run`."""
        return cycle_outcome(feeds_answered=self.feeds_ok + self.feeds_not_modified, failed_stage=self.failed_stage)

    def quiet(self) -> bool:
        """Nothing new came in and nothing failed: no entry, article, vector, judgement, incident or alert."""
        return not (self.feeds_ok or self.feeds_failed or self.new_entries or self.articles or self.embedded
                    or self.judged or self.assigned or self.alerts or self.delivered)

    def record(self, cycle_id: str, started: datetime, finished: datetime) -> CycleRecord:
        """The cycle's row of the `cycles` table."""
        return CycleRecord(
            cycle_id, started, finished, self.outcome, self.failed_stage, self.error, self.feeds_due, self.feeds_ok,
            self.feeds_not_modified, len(self.feeds_failed), self.feeds_muted, self.feeds_backing_off,
            self.new_entries, sum(self.articles.values()), self.relevant, self.incidents_opened, len(self.alerts))

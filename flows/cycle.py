"""The monitor cycle as a Prefect flow: the pipeline's stages in order, each a task (flows/stages.py) whose result
the flow adds to the cycle's report. Composition only: which stages run, when a quiet cycle skips some, how a
failed stage ends the cycle (recorded in the `cycles` table), and running the flow from sync code."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.context import SyncClientContext
from prefect.utilities.annotations import quote

import warehouse.connection
import warehouse.cycles
import warehouse.outbox
from flows import resources
from flows.deliver import deliver_stage, delivery_channels
from flows.process import prepare_process
from flows.resources import STOP
from flows.stages import (
    assign_incidents,
    embed_articles,
    fetch_articles,
    judge_articles,
    poll_feeds,
    publish_snapshot,
    raise_alerts,
    register_channels,
    run_logger,
    settle_stragglers,
    snapshot_due,
)
from pipeline.cycle_report import AssignResult, CycleReport, attach_partial, partial_result
from pipeline.errors import NewswatchError
from pipeline.settings import Settings

__all__ = ["STOP", "CycleFailed", "CycleReport", "api_client", "monitor_cycle", "run_cycle", "settle_stragglers"]

class CycleFailed(NewswatchError):
    """A stage raised and the cycle stopped there. `report` holds what the cycle did until then (with
    `failed_stage` and `error` set); `cause` is the stage's own error (WarehouseBusy: `serve` retries soon)."""

    def __init__(self, report: CycleReport, cause: BaseException) -> None:
        self.report = report
        self.cause = cause
        where = "could not start" if report.failed_stage == "register" else f"stopped in its {report.failed_stage} stage"
        super().__init__(f"the cycle {where}: {cause}")


def _fetch_and_embed(settings: Settings) -> tuple[dict[str, int], int]:
    """Fetch+extract in a worker while the model embeds what has been stored so far: the network and the
    parser wait behind the model instead of before it. The two stages meet only at the articles table.
    (articles stored by status, vectors made)."""
    fetched = threading.Event()
    fetching = fetch_articles.submit(quote(settings), fetched)
    try:
        embedded = embed_articles(quote(settings), fetched)
    except Exception as exc:  # what the fetch stage stored still counts
        fetching.wait()
        attach_partial(exc, (_fetched(fetching), 0))
        raise
    fetching.wait()
    try:
        return fetching.result(), embedded  # a fetch stage that could not run (warehouse busy) fails the cycle
    except Exception as exc:
        attach_partial(exc, (partial_result(exc) or {}, embedded))
        raise


def _fetched(fetching: Any) -> dict[str, int]:
    try:
        articles: dict[str, int] = fetching.result()
    except Exception as exc:  # the embed stage's error is the one the cycle reports
        return partial_result(exc) or {}
    return articles


def _assigned(report: CycleReport, result: AssignResult) -> CycleReport:
    return replace(report, assigned=result.assigned, incidents_opened=result.incidents_opened,
                   embedded=report.embedded + result.embedded)


def _add(report: CycleReport, result: Any) -> CycleReport:
    """`result`'s fields are CycleReport's (PollResult, JudgeResult)."""
    return replace(report, **vars(result))


@dataclass(frozen=True)
class Stage:
    name: str  # as the cycles table and CycleFailed name it
    run: Callable[[Settings], Any]  # its tasks; returns its result
    add: Callable[[CycleReport, Any], CycleReport]  # the report with the result (or the result so far) added
    needs: str | None = None  # "ingest": skipped when nothing is left to ingest; "alerting": when nothing to alert


# The pipeline, in order: feed -> entry -> article -> embedding -> judgement -> incident -> alert. Tasks get their
# settings quoted: Prefect would otherwise walk every argument looking for futures (500 feeds: tens of ms a run).
STAGES = (
    Stage("register", register_channels, lambda report, _: report),  # a plain call: a few ms, no task run
    Stage("poll", lambda settings: poll_feeds(quote(settings)), _add),
    Stage("fetch+embed", _fetch_and_embed,
          lambda report, r: replace(report, articles=r[0], embedded=report.embedded + r[1]), needs="ingest"),
    Stage("judge", lambda settings: judge_articles(quote(settings)), _add, needs="ingest"),
    Stage("assign", lambda settings: assign_incidents(quote(settings)), _assigned, needs="ingest"),
    Stage("alerts", lambda settings: raise_alerts(quote(settings)),
          lambda report, alerts: replace(report, alerts=alerts), needs="alerting"),
)


def _pending_work(settings: Settings, report: CycleReport) -> dict[str, bool]:
    """After the poll: whether anything is left to fetch, embed, judge or assign ("ingest"), and any alert to
    raise ("alerting"). A quiet cycle skips the stages with nothing to do: each task run costs Prefect
    bookkeeping, most of an idle cycle."""
    with resources.warehouse(settings) as con:
        ingest = bool(report.new_entries) or warehouse.cycles.has_pending_ingest(con, datetime.now(UTC),
                                                                                settings.embed.model)
        # an incident left unalerted (a crash after assign, or one a channel's filters skip) keeps the stage on
        channels = settings.alerts.channels
        alerting = ingest or any(warehouse.outbox.unalerted_incidents(con, c.name) for c in channels) or any(
            warehouse.outbox.read_alerts(con, status="pending", channel=c.name) for c in channels if c.type == "log")
    return {"ingest": ingest, "alerting": alerting}


def _record_failed_cycle(settings: Settings, report: CycleReport, cycle_id: str, started: datetime) -> None:
    """Best effort, without waiting: the failure may be that the warehouse is held or unusable."""
    try:
        with warehouse.connection.open_warehouse(settings.warehouse.path, busy_timeout_seconds=0.0,
                                                 create=False) as con:
            warehouse.cycles.insert_cycle(con, report.record(cycle_id, started, datetime.now(UTC)))
    except NewswatchError as exc:
        run_logger().info("cycle not recorded: %s", exc)


@flow(name="newswatch-cycle", log_prints=False, validate_parameters=False)
async def monitor_cycle(settings: Settings) -> CycleReport:
    """One full monitor cycle: STAGES, then the outbox, the cycle's row and the snapshot. Feed and page failures
    are recorded, not raised; a stage that cannot run (warehouse busy past its timeout, model missing) stops the
    cycle with CycleFailed. Every cycle that ends or fails is recorded in the `cycles` table (`newswatch
    status`). Stops between stages when STOP is set (each stage has committed its work, so the next cycle
    resumes where this one stopped).

    An async flow whose stages are sync tasks run one after another: Prefect ends a sync flow by joining its
    heartbeat thread, which sleeps in 1 s steps (benchmarks/PERFORMANCE.md); an async flow does not wait for it.
    Call `run_cycle` from sync code."""
    report = CycleReport()
    cycle_id, started = uuid.uuid4().hex, datetime.now(UTC)
    stage_name = "register"
    try:
        # One Prefect API client for all the cycle's sync tasks (the caller's, see api_client); otherwise each task
        # run builds its own. The warehouse held open for the whole cycle: every stage's own connection then
        # reuses the open database instead of opening the file again. A process waiting for the file (`newswatch
        # mute`, feedback, `sql --live`) gets it between two units of work of the current stage.
        with api_client(), resources.hold_warehouse(settings):
            pending: dict[str, bool] | None = None  # known once the feeds are polled
            for stage in STAGES:
                if STOP.is_set():
                    return replace(report, stopped=True)
                if stage.needs is not None:
                    pending = pending if pending is not None else _pending_work(settings, report)
                    if not pending[stage.needs]:
                        continue  # a quiet cycle: nothing to fetch, embed, judge or assign (or alert)
                stage_name = stage.name
                try:
                    report = stage.add(report, stage.run(settings))
                except Exception as exc:
                    if (partial := partial_result(exc)) is not None:  # what it stored before it stopped
                        report = stage.add(report, partial)
                    raise
            if not STOP.is_set() and delivery_channels(settings):
                stage_name = "deliver"
                delivery = deliver_stage(quote(settings))  # e-mail and webhook outboxes (the log channel: above)
                report = replace(report, delivered=bool(delivery.sent or delivery.retrying or delivery.failed
                                                        or delivery.digests_queued))
            stage_name = "record"
            with resources.warehouse(settings) as con:  # recorded before the snapshot: the snapshot shows it
                warehouse.cycles.insert_cycle(con, report.record(cycle_id, started, datetime.now(UTC)))
            stage_name = "snapshot"
            if snapshot_due(settings, report):
                publish_snapshot(quote(settings), quote(report))
    except NewswatchError as exc:
        report = replace(report, failed_stage=stage_name, error=" ".join(str(exc).split()))
        _record_failed_cycle(settings, report, cycle_id, started)
        raise CycleFailed(report, exc) from exc
    except Exception as exc:  # a bug: recorded, and raised as it is (its traceback is wanted)
        report = replace(report, failed_stage=stage_name, error=f"{type(exc).__name__}: {exc}")
        _record_failed_cycle(settings, report, cycle_id, started)
        raise
    return report


def api_client() -> Any:
    """A context in which Prefect's API calls share one client (`serve` holds one for all its cycles). Prefect
    otherwise builds a client, and a TLS context with it, for the flow's result-store lookup and for the cycle's
    tasks, every cycle, even for a local http:// API (benchmarks/PERFORMANCE.md)."""
    return SyncClientContext.get_or_create()


def run_cycle(settings: Settings, *, settle: bool = True) -> CycleReport:
    """Run `monitor_cycle` from sync code (the CLI, `serve`, the replay) on a fresh event loop. Not
    `asyncio.run`: it would take over Ctrl-C and only cancel the flow at its next await, while the stages are
    sync code that would run on; here Ctrl-C interrupts as in any sync call (`serve` installs its own handler).
    With `settle` (a process about to exit), slow pages still downloading are waited for and stored after the
    cycle, its alerts already out (settle_stragglers); `serve` passes False and its next cycle stores them."""
    prepare_process()
    loop = asyncio.new_event_loop()
    try:
        with api_client():  # entered before the flow starts, so the flow engine's own lookups use it too
            report = loop.run_until_complete(monitor_cycle(settings))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    if settle:
        settle_stragglers(settings)
    return report

"""The cycle's report is assembled by the flow from each stage's result; a stage stopped by an error still reports
what it stored before it (an alert already logged is printed and counted), and the cycle fails with that error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import warehouse.connection
import warehouse.outbox
import warehouse.queries
from pipeline.errors import WarehouseBusy
from tests.outbox_servers import seed_two_incidents


@pytest.mark.slow
def test_the_report_adds_up_what_each_stage_returned(make_settings, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    from flows.cycle import run_cycle

    settings = make_settings()
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:  # the log channel, before the incidents open
        warehouse.outbox.register_channels(con, [("log", "log")], datetime(2025, 1, 1, tzinfo=UTC))
    seed_two_incidents(settings.warehouse.path)
    report = run_cycle(settings)
    # no feed, the three seeded articles embedded and judged (already in their incidents), both incidents alerted
    assert (report.feeds_due, report.new_entries, report.judged, report.assigned, report.failed_stage) == (
        0, 0, 3, 0, None)
    assert report.embedded >= 3 and sum(report.articles.values()) == 0
    assert sorted(a.incident_id for a in report.alerts) == ["inc-ee", "inc-pl"]
    assert not report.quiet() and run_cycle(settings).quiet()  # the next one has nothing to do


@pytest.mark.slow
def test_alerts_logged_before_a_stage_failed_are_in_the_failed_cycles_report(  # type: ignore[no-untyped-def]
        make_settings, prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.cycle import CycleFailed, run_cycle

    settings = make_settings()
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        warehouse.outbox.register_channels(con, [("log", "log")], datetime(2025, 1, 1, tzinfo=UTC))
    seed_two_incidents(settings.warehouse.path)
    real_mark_alert, calls = warehouse.outbox.mark_alert_delivery, []

    def mark_alert(*args: Any, **kwargs: Any) -> Any:  # the warehouse is taken away after the first alert
        calls.append(args)
        if len(calls) == 2:
            raise WarehouseBusy(settings.warehouse.path, "Conflicting lock is held")
        return real_mark_alert(*args, **kwargs)

    monkeypatch.setattr(warehouse.outbox, "mark_alert_delivery", mark_alert)
    with pytest.raises(CycleFailed) as failed:
        run_cycle(settings)
    report = failed.value.report
    assert isinstance(failed.value.cause, WarehouseBusy)
    assert report.failed_stage == "alerts" and len(report.alerts) == 1
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        assert warehouse.queries.query(con, "SELECT failed_stage, alerts FROM v_cycles")[1] == [("alerts", 1)]
        assert warehouse.queries.query(con, "SELECT count(*) FROM v_alerts WHERE status = 'sent'")[1] == [(1,)]

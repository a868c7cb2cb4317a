"""Entry points for Prefect deployments run by workers (`newswatch deploy`): each takes config file paths,
loads the settings itself and runs the same flows as `newswatch run` / `serve`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow

from flows.cycle import monitor_cycle
from flows.process import prepare_process
from flows.serve import digest_flow
from pipeline.settings import load_settings


@flow(name="newswatch-cycle-deployment")
async def cycle_entry(config: list[str]) -> dict[str, Any]:
    prepare_process()
    report = await monitor_cycle(load_settings([Path(c) for c in config]))
    return {"alerts": len(report.alerts), "new_entries": report.new_entries, "failed_feeds": len(report.feeds_failed)}


@flow(name="newswatch-digest-deployment")
def digest_entry(config: list[str]) -> str:
    return str(digest_flow(load_settings([Path(c) for c in config]), datetime.now(UTC)))

"""The analysts' read-only snapshot is republished after a cycle that brought anything in; a quiet cycle leaves a
recent one alone (copying the file would be most of an idle cycle's cost) and refreshes an old one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import warehouse.paths
from flows.stages import publish_snapshot
from pipeline.cycle_report import CycleReport
from pipeline.settings import load_settings


def _settings(tmp_path: Path, max_age_minutes: float):  # type: ignore[no-untyped-def]
    return load_settings([], environ={}, overrides={
        "warehouse": {"path": str(tmp_path / "nw.duckdb"), "snapshot_max_age_minutes": max_age_minutes}})


def _age_snapshot(path: Path, seconds: float) -> float:
    old = time.time() - seconds
    os.utime(path, (old, old))
    return path.stat().st_mtime


def test_quiet_cycle_keeps_a_recent_snapshot_and_a_busy_one_republishes(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_age_minutes=15)
    snapshot = warehouse.paths.snapshot_path(settings.warehouse.path)
    publish_snapshot.fn(settings, CycleReport())  # none yet: published even though the cycle was quiet
    assert snapshot.exists()

    before = _age_snapshot(snapshot, 60)  # a minute old
    publish_snapshot.fn(settings, CycleReport())
    assert snapshot.stat().st_mtime == before

    publish_snapshot.fn(settings, CycleReport(new_entries=3))
    assert snapshot.stat().st_mtime > before


def test_quiet_cycle_refreshes_a_snapshot_older_than_the_limit(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_age_minutes=15)
    snapshot = warehouse.paths.snapshot_path(settings.warehouse.path)
    publish_snapshot.fn(settings, CycleReport())
    before = _age_snapshot(snapshot, 16 * 60)
    publish_snapshot.fn(settings, CycleReport())
    assert snapshot.stat().st_mtime > before


def test_zero_max_age_publishes_after_every_cycle(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_age_minutes=0)
    snapshot = warehouse.paths.snapshot_path(settings.warehouse.path)
    publish_snapshot.fn(settings, CycleReport())
    before = _age_snapshot(snapshot, 5)
    publish_snapshot.fn(settings, CycleReport())
    assert snapshot.stat().st_mtime > before


def test_a_cycle_that_only_delivered_or_failed_counts_as_not_quiet() -> None:
    assert CycleReport().quiet()
    assert not CycleReport(delivered=True).quiet()
    assert not CycleReport(feeds_failed={"f": "timeout"}).quiet()
    assert CycleReport(feeds_not_modified=500).quiet()

"""Every analyst query documented in docs/queries.md runs against a replayed warehouse and returns rows."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.settings import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "queries.md").read_text(encoding="utf-8")
QUERIES = re.findall(r"^### (.+?)\n```sql\n(.*?)```", DOC, re.S | re.M)


def test_at_least_ten_queries_are_documented() -> None:
    assert len(QUERIES) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("title, sql", QUERIES, ids=[t for t, _ in QUERIES])
def test_documented_query_runs_and_answers(title: str, sql: str, replayed: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["sql", "-c", str(replayed["config"]), "--csv", sql])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) >= 2, f"{title}: no rows\n{result.output}"

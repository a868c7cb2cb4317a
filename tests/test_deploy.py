"""`newswatch deploy` against a real Prefect server (the test harness's): the cycle deployment runs one at a time."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.defaults import DEMO_CONFIG

pytestmark = pytest.mark.slow  # registers deployments on Prefect's test server


def test_deploy_registers_the_cycle_with_concurrency_limit_1(monkeypatch: pytest.MonkeyPatch,
                                                              prefect_harness: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="nw-test", type="process"), overwrite=True)
    config = str(DEMO_CONFIG)
    result = CliRunner().invoke(main, ["deploy", "--pool", "nw-test", "-c", config], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "newswatch-cycle registered on pool nw-test" in result.output
    with get_client(sync_client=True) as client:
        cycle = client.read_deployment_by_name("newswatch-cycle-deployment/newswatch-cycle")
        digest = client.read_deployment_by_name("newswatch-digest-deployment/newswatch-digest")
    assert cycle.global_concurrency_limit is not None and cycle.global_concurrency_limit.limit == 1
    assert digest.global_concurrency_limit is None
    assert cycle.work_pool_name == "nw-test" and cycle.parameters == {"config": [config]}

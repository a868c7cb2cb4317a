"""What ships besides code (pipeline/defaults/: configs, topic, demo corpus) is found through importlib.resources,
is all declared as package data (so a wheel carries it), and `newswatch demo` needs nothing from the directory it
runs in."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from pipeline import defaults
from pipeline.settings import PROJECT_ROOT, load_settings

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")


def test_the_shipped_files_are_found_through_importlib_resources() -> None:
    shipped = files("pipeline.defaults")
    for name in ("newswatch.toml", "feeds.toml", "demo.toml", "topics/airspace_violations.toml",
                 "topics/airspace_violations.classifier.json", "corpus/dev/labels.jsonl"):
        assert shipped.joinpath(*name.split("/")).is_file(), name
    assert defaults.DEMO_CORPUS.joinpath("site", "baltic-wire", "feed.xml").is_file()
    settings = load_settings([defaults.DEFAULT_CONFIG], environ={})
    assert Path(settings.topic.path) == defaults.SHIPPED_TOPIC and Path(settings.topic.classifier_path).is_file()


def test_every_shipped_file_is_declared_package_data() -> None:
    """A file under pipeline/defaults/ that no package-data pattern names would be missing from a wheel."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "pipeline.defaults" in project["tool"]["setuptools"]["packages"]
    patterns = project["tool"]["setuptools"]["package-data"]["pipeline.defaults"]
    root = defaults.SHIPPED_TOPIC.parent.parent
    declared = {path for pattern in patterns for path in root.glob(pattern)}
    present = {path for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts
               and path.suffix != ".py"}
    assert present - declared == set()


@pytest.mark.slow  # the demo runs the pipeline through Prefect with the model
def test_the_demo_runs_from_an_empty_directory(tmp_path: Path, prefect_harness: None) -> None:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(PREFECT_API_URL=str(PREFECT_API_URL.value()))
    done = subprocess.run([NEWSWATCH, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("NEW INCIDENT") == 5, done.stdout
    assert (tmp_path / "data" / "demo.duckdb").is_file()
    assert list((tmp_path / "out").glob("digest-*.html"))
    hint = next(line for line in done.stdout.splitlines() if "query it:" in line)
    assert "NEWSWATCH_WAREHOUSE__PATH=data/demo.duckdb newswatch sql" in hint

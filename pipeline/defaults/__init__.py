"""What newswatch ships besides code, found through importlib.resources wherever the package is installed: the
default config (newswatch.toml including feeds.toml), the demo's config, the watch topic (topics/: the topic file
and the classifier trained for it) and the demo corpus (corpus/dev). Pure: paths only, nothing is read here.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(name: str) -> Path:
    """The path of a shipped file or directory (`name` relative to this package, '/'-separated)."""
    resource = files(__name__).joinpath(*name.split("/"))
    # pip installs a package as plain files, so every resource is a file on disk that config includes, the
    # topic loader and the demo's HTTP server can open by path (a zipped import would need as_file()).
    if not isinstance(resource, Path):
        raise TypeError(f"newswatch's shipped files must be installed as files, not in {resource!r}")
    return resource


DEFAULT_CONFIG = shipped("newswatch.toml")
SHIPPED_FEEDS = shipped("feeds.toml")
DEMO_CONFIG = shipped("demo.toml")
SHIPPED_TOPIC = shipped("topics/airspace_violations.toml")
DEMO_CORPUS = shipped("corpus/dev")

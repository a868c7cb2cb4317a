"""Where each resolved setting came from (`newswatch config show`): a default, a TOML file (included ones named
themselves) or a NEWSWATCH_* environment variable; secrets masked. Pure: reads only the files and environment
it is given, after load_settings has validated them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.settings import ENV_PREFIX, SECRET_KEYS, Settings, read_env

DEFAULT = "default"
MASK = "********"


@dataclass(frozen=True)
class SettingSource:
    key: str      # dotted: "fetch.timeout_seconds", "alerts.channels"
    value: Any    # as loaded, secrets and URL paths masked
    source: str   # "default", a file path, or "environment variable NEWSWATCH_..."


def _file_layers(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, its own keys) for the files a config reads, in merge order: each file's includes before it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for name in data.get("include", []):
        yield from _file_layers(path.parent / str(name))
    yield str(path), {k: v for k, v in data.items() if k != "include"}


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted keys of a nested mapping; lists (channels, recipients, feeds) are single values."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def trace_sources(paths: Sequence[Path], environ: Mapping[str, str]) -> dict[str, list[str]]:
    """Dotted key -> the sources that set it, last one winning (`feeds` lists every file that adds feeds,
    since feed lists add up)."""
    found: dict[str, list[str]] = {}
    layers = [layer for p in paths for layer in _file_layers(p)]
    env = [(f"environment variable {ENV_PREFIX}{k.upper().replace('.', '__')}", {k: v})
           for k, v in _leaves(read_env(environ))]
    for source, data in layers + env:
        for key, _ in _leaves(data):
            found[key] = [*found.get(key, []), source] if key == "feeds" else [source]
    return found


def mask_url(url: str) -> str:
    """Keep what says where a message goes (scheme and host of an http(s) URL, the service of an Apprise URL);
    hide paths, tokens and passwords, which in webhook and Apprise URLs are the credentials."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/{MASK}" if parts.path.strip("/") or parts.query \
            else f"{parts.scheme}://{parts.hostname}{port}"
    return f"{parts.scheme}://{MASK}" if parts.scheme else MASK


def _masked_channel(channel: dict[str, Any]) -> dict[str, Any]:
    return {k: mask_url(v) if k == "url" and isinstance(v, str) else v for k, v in channel.items()
            if v not in (None, [], "")}


def resolved_settings(settings: Settings, paths: Sequence[Path], environ: Mapping[str, str]
                      ) -> list[SettingSource]:
    """Every setting with its value and source, in the order of the settings model. Secrets show only
    whether they are set; webhook and Apprise URLs show their scheme and host."""
    sources = trace_sources(paths, environ)
    secrets = {f"{section}.{key}" for section, key in SECRET_KEYS}
    out = []
    for key, value in _leaves(settings.model_dump(exclude={"include"})):
        origin = sources.get(key) or next((sources[p] for p in _parents(key) if p in sources), [DEFAULT])
        if key in secrets:
            value = MASK if value is not None else None
        elif key == "alerts.channels":
            value = [_masked_channel(c) for c in value]
        elif key == "feeds":
            value = f"{len(value)} feeds (newswatch feeds list)"
        out.append(SettingSource(key, value, " + ".join(dict.fromkeys(origin))))
    return out


def _parents(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]

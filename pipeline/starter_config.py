"""The starter config `newswatch init` writes, generated from the typed Settings so it cannot drift from them:
every section and key with its meaning (the field's description) and its default, commented out.

Pure: builds text; the caller writes the files.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
from collections.abc import Iterator
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline.settings import ENV_PREFIX, SECRET_KEYS, AlertChannel, FeedSettings, Settings

WIDTH = 110
FEEDS_FILE = "feeds.toml"


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    meaning: str
    default: Any         # the value as loaded; `UNSET` when the key has no default (it must be given)
    secret: bool = False


UNSET = object()


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal: strings quoted, lists as arrays, mappings as inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"no TOML literal for {value!r}")


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """The string literal under each annotated attribute of a class body (how dataclasses document fields)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    for node, after in zip(body.body, body.body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _plain(value: Any) -> Any:
    """A default as TOML would hold it: models and dataclasses as mappings without unset (None) values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def section_keys(section: type, name: str) -> Iterator[Key]:
    """The keys of one settings section (a pydantic model or a dataclass), in declaration order."""
    if isinstance(section, type) and issubclass(section, BaseModel):
        docs = _attribute_docstrings(section)
        for key, field in section.model_fields.items():
            if field.default_factory is not None:
                default = _plain(field.default_factory())  # type: ignore[call-arg]
            else:
                default = UNSET if field.default is PydanticUndefined else _plain(field.default)
            yield Key(key, field.description or docs.get(key, ""), default, (name, key) in SECRET_KEYS)
    elif dataclasses.is_dataclass(section):
        docs = _attribute_docstrings(section)
        for dc_field in dataclasses.fields(section):
            if dc_field.default is not dataclasses.MISSING:
                default = dc_field.default
            elif dc_field.default_factory is not dataclasses.MISSING:
                default = dc_field.default_factory()
            else:
                default = UNSET
            yield Key(dc_field.name, docs.get(dc_field.name, ""), _plain(default), (name, dc_field.name) in SECRET_KEYS)
    else:
        raise TypeError(f"[{name}] is neither a settings model nor a dataclass")


def sections() -> Iterator[tuple[str, str, type]]:
    """(name, meaning, type) of every table of Settings: the sections, then the [[feeds]] array."""
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if get_origin(annotation) is list:
            (annotation,) = get_args(annotation)
        if isinstance(annotation, type) and (issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)):
            yield name, field.description or "", annotation


def _comment(text: str, indent: str = "") -> list[str]:
    prefix = "# " + indent
    return textwrap.wrap(text, WIDTH, initial_indent=prefix, subsequent_indent=prefix) if text else []


def _key_lines(section: str, key: Key, indent: str = "") -> list[str]:
    lines = _comment(key.meaning, indent)
    if key.secret:
        env = f"{ENV_PREFIX}{section.upper()}__{key.name.upper()}"
        lines.append(f"# {indent}{key.name}: from the environment only ({env}); never in a file")
    elif key.default is UNSET:
        lines.append(f"# {indent}{key.name} = ...   (required)")
    elif key.default is None:
        lines.append(f"# {indent}{key.name} = ...   (unset by default)")
    else:
        lines.append(f"# {indent}{key.name} = {toml_value(key.default)}")
    return lines


def render_starter_config() -> str:
    """newswatch.toml for `newswatch init`: `include = ["feeds.toml"]` and every other key commented out with its
    default, so the file documents the settings and changes nothing until a line is uncommented."""
    out = [
        "# newswatch configuration, written by `newswatch init`. Every key is listed with its meaning and its default,",
        "# commented out: uncomment a line to change it. A misspelt key stops the program and names the key.",
        f"# Any key can also be set from the environment as {ENV_PREFIX}<SECTION>__<KEY> (e.g.",
        f"# {ENV_PREFIX}WAREHOUSE__PATH=/srv/nw.duckdb), which wins over this file. Relative paths (warehouse.path,",
        "# digest.out_dir, topic.path, fetch.ca_file) are relative to the working directory; `include` names are",
        "# relative to this file. `newswatch config show -c THIS_FILE` prints every resolved value and its source.",
        "",
    ]
    include = Settings.model_fields["include"]
    out += _comment(include.description or "")
    out.append(f"include = {toml_value([FEEDS_FILE])}")
    for name, meaning, kind in sections():
        if name == "feeds":
            continue  # in feeds.toml
        out += ["", f"[{name}]"]
        out += _comment(meaning)
        for key in section_keys(kind, name):
            if name == "alerts" and key.name == "channels":
                out += _key_lines(name, key)
                out += _comment("Each channel is an inline table (or an [[alerts.channels]] table after this "
                                "section) with these keys:")
                for channel_key in section_keys(AlertChannel, "alerts.channels"):
                    out += _key_lines("alerts.channels", channel_key, indent="  ")
                continue
            out += _key_lines(name, key)
    return "\n".join(out) + "\n"


def render_feeds_stub(shipped_feeds: str) -> str:
    """feeds.toml for `newswatch init`: what a [[feeds]] table holds, then the shipped list of public feeds."""
    out = ["# The feeds newswatch polls, one [[feeds]] table each (newswatch.toml includes this file). Keys:"]
    for key in section_keys(FeedSettings, "feeds"):
        out += _comment(f"{key.name}: {key.meaning}")
    out += ["# Feeds can also be added without editing files: `newswatch feeds add URL` (kept in the warehouse).",
            "# Below: the shipped list of public feeds. Delete what you do not want, add your own.", ""]
    return "\n".join(out) + "\n" + shipped_feeds

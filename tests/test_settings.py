"""Settings: one typed object from TOML + NEWSWATCH_* environment; typos fail naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.defaults import DEFAULT_CONFIG, DEMO_CONFIG
from pipeline.errors import ConfigInvalid
from pipeline.settings import PROJECT_ROOT, Settings, load_settings

CONTRACT = """
[warehouse]
path = "data/newswatch.duckdb"
[fetch]
allow_private_addresses = false   # true lets feeds/pages on loopback or private networks be fetched
[[feeds]]
name = "baltic-wire"
url = "http://127.0.0.1:8000/baltic-wire/feed.xml"
"""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_config_holding_only_the_public_contract_keys_works(tmp_path: Path) -> None:
    s = load_settings([write(tmp_path, CONTRACT)], environ={})
    assert s.warehouse.path == "data/newswatch.duckdb"
    assert s.fetch.allow_private_addresses is False
    assert [(f.name, f.url) for f in s.feeds] == [("baltic-wire", "http://127.0.0.1:8000/baltic-wire/feed.xml")]
    assert s.embed.model == "multilingual-e5-small"  # shipped default


def test_a_typo_in_a_nested_key_fails_naming_the_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, CONTRACT + "\n[smtp]\nprot = 2525\n")
    with pytest.raises(ConfigInvalid, match=r"smtp\.prot: unknown key") as info:
        load_settings([path], environ={})
    assert str(path) in str(info.value)


def test_a_typo_in_an_environment_override_fails_naming_the_key() -> None:
    with pytest.raises(ConfigInvalid, match=r"NEWSWATCH_FETCH__TIMEOUT_SECS: fetch\.timeout_secs: unknown key"):
        load_settings([], environ={"NEWSWATCH_FETCH__TIMEOUT_SECS": "3"})


def test_environment_overrides_toml_with_typed_values(tmp_path: Path) -> None:
    s = load_settings([write(tmp_path, CONTRACT)], environ={
        "NEWSWATCH_FETCH__ALLOW_PRIVATE_ADDRESSES": "true", "NEWSWATCH_WAREHOUSE__PATH": "/srv/nw.duckdb",
    })
    assert s.fetch.allow_private_addresses is True
    assert s.warehouse.path == "/srv/nw.duckdb"


def test_a_later_file_changes_one_key_of_a_section_and_keeps_the_rest(tmp_path: Path) -> None:
    base = write(tmp_path, '[fetch]\ntimeout_seconds = 5.0\nconcurrency = 3\n', "a.toml")
    local = write(tmp_path, '[fetch]\nconcurrency = 4\n', "b.toml")
    s = load_settings([base, local], environ={})
    assert (s.fetch.timeout_seconds, s.fetch.concurrency) == (5.0, 4)


def test_a_secret_in_a_toml_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="smtp.password.*NEWSWATCH_SMTP__PASSWORD"):
        load_settings([write(tmp_path, '[smtp]\npassword = "hunter2"\n')], environ={})


def test_the_smtp_password_comes_from_the_environment_and_is_not_printed() -> None:
    s = load_settings([], environ={"NEWSWATCH_SMTP__PASSWORD": "hunter2"})
    assert s.smtp.password is not None and s.smtp.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s)


def test_duplicate_feed_names_are_refused(tmp_path: Path) -> None:
    text = '[[feeds]]\nname = "a"\nurl = "http://x/1"\n[[feeds]]\nname = "a"\nurl = "http://x/2"\n'
    with pytest.raises(ConfigInvalid, match="duplicate feed name"):
        load_settings([write(tmp_path, text)], environ={})


def test_the_shipped_configs_load_in_a_clean_environment() -> None:
    s = load_settings([DEFAULT_CONFIG], environ={})
    assert len(s.feeds) >= 10 and all(f.url.startswith("https://") for f in s.feeds)
    assert Path(s.topic.path).is_file()
    load_settings([DEMO_CONFIG], environ={})
    # the image's config/local.toml, read after the shipped defaults (Dockerfile)
    docker = load_settings([DEFAULT_CONFIG, PROJECT_ROOT / "config" / "docker.toml"], environ={})
    assert len(docker.feeds) == len(s.feeds) and docker.warehouse.path.startswith("/app/data/")
    assert {c.type for c in docker.alerts.channels} == {"log", "email"}


def test_every_setting_is_described_and_shown_in_the_shipped_config() -> None:
    shipped = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for section_name, section in Settings.model_fields.items():
        if section_name in ("feeds", "cluster", "include"):
            continue
        assert re.search(rf"^\[{section_name}\]", shipped, re.M), f"[{section_name}] missing from newswatch.toml"
        for key, field in section.annotation.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{section_name}.{key} has no description"
            if key != "password":
                assert re.search(rf"^#?\s*{key} =", shipped, re.M), f"{section_name}.{key} missing from newswatch.toml"


def test_a_ca_file_that_is_not_a_certificate_bundle_fails_at_start_naming_it(tmp_path: Path) -> None:
    for bad in (tmp_path / "missing.pem", write(tmp_path, "not a certificate\n")):
        with pytest.raises(ConfigInvalid, match=r"fetch.*ca_file.*not a readable PEM file"):
            load_settings([], environ={"NEWSWATCH_FETCH__CA_FILE": str(bad)})


def test_time_zone_send_time_urls_model_and_cluster_are_checked_when_settings_load(tmp_path: Path) -> None:
    for extra, key in (('[digest]\ntimezone = "Europe/Warsow"\n', "digest.timezone"),
                       ('[digest]\nsend_time = "25:99"\n', "digest.send_time"),
                       ('[embed]\nmodel = "no-such-model"\n', "embed.model"),
                       ("[cluster]\nthresold = 0.5\n", "cluster.thresold: unknown key"),
                       ('[cluster]\nthreshold = "high"\n', "cluster.threshold"),
                       ("[cluster]\ntop_k = 0\n", "cluster: top_k must be at least 1"),
                       ('[topic]\npath = "missing-topic.toml"\n', "topic.path"),
                       ('[[feeds]]\nname = "f"\nurl = "file:///etc/passwd"\n', "feeds.1.url")):
        path = write(tmp_path, CONTRACT + extra)
        with pytest.raises(ConfigInvalid, match=re.escape(key)) as info:
            load_settings([path], environ={})
        assert info.value.source == str(path.resolve())
    engine = load_settings([write(tmp_path, CONTRACT + "[cluster]\nthreshold = 0.5\n")], environ={}).cluster
    assert engine.threshold == 0.5 and engine.top_k == 1  # typed: the engine's own settings, defaults kept


def test_an_error_names_the_file_that_set_the_key_not_an_unrelated_variable(tmp_path: Path) -> None:
    bad_ca = write(tmp_path, "not a certificate\n", "ca.pem")
    local = write(tmp_path, f'[fetch]\nca_file = "{bad_ca}"\n', "local.toml")
    with pytest.raises(ConfigInvalid, match=r"fetch\.ca_file: ca_file .* not a readable PEM file") as info:
        load_settings([write(tmp_path, CONTRACT), local], environ={"NEWSWATCH_FETCH__TIMEOUT_SECONDS": "5"})
    assert info.value.source == str(local.resolve())
    included = write(tmp_path, '[digest]\ntimezone = "Mars/Olympus"\n', "tz.toml")
    with pytest.raises(ConfigInvalid, match="digest.timezone") as info:
        load_settings([write(tmp_path, 'include = ["tz.toml"]\n' + CONTRACT, "main.toml")], environ={})
    assert info.value.source == str(included.resolve())


def test_an_include_that_is_a_directory_or_not_utf8_fails_naming_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    (tmp_path / "latin1.toml").write_bytes("# caf\xe9\n".encode("latin-1"))
    for name, problem in (("dir.toml", "is a directory"), ("latin1.toml", "not UTF-8"), ("gone.toml", "no such file")):
        main = write(tmp_path, f'include = ["{name}"]\n' + CONTRACT, "main.toml")
        with pytest.raises(ConfigInvalid, match=rf"include\[0\] \(.*{re.escape(name)}\): {problem}") as info:
            load_settings([main], environ={})
        assert info.value.source == str(main.resolve())

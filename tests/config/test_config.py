"""Config validation: every bad input names the field and the reason, and leaks no secret."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporter.config import Config, ConfigError, load_config, redacted_dump
from tests.support.servers import REPO

SECRET = "s3cr3t-Pa55word"


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_embedded_default_matches_the_design_note():
    config = load_config(environ={})
    assert config.environment == "dev"
    assert [c.name for c in config.component_classes] == ["cpu", "gpu", "memory"]
    assert config.postgres[0].name == "main"
    assert config.postgres[0].dsn == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert config.redis[0].url == "redis://127.0.0.1:6379/0"
    for cls in config.component_classes:
        assert [(q.kind, q.key, q.target) for q in cls.queues] == [
            ("redis_list", f"jobs:{cls.name}", "main")
        ]
        assert [s.metric for s in cls.scale_on] == ["queue_depth"]
    assert config.gpu == "auto"
    assert config.listen.http.endswith(":9464") and config.listen.https.endswith(":6443")


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("environment: prod\n", "environment", "'dev', 'staging' or 'production'"),
        ("collection: {interval_seconds: fast}\n", "collection.interval_seconds", "valid number"),
        ("colection: {}\n", "colection", "unknown key"),
        ("redis: [{name: main, url: 'redis://h:6379', db: 3}]\n", "redis[0].db", "unknown key"),
        (
            "postgres: [{name: main, dsn: 'mysql://u@h/db'}]\n",
            "postgres[0].dsn",
            "postgresql:// URL",
        ),
        (
            "postgres: [{name: main, dsn: 'postgresql://u@h:port/db'}]\n",
            "postgres[0].dsn",
            "invalid port",
        ),
        ("listen: {http: '9464'}\n", "listen.http", "host:port"),
        (
            "collection: {interval_seconds: 1, timeout_seconds: 5}\n",
            "collection",
            "must not exceed",
        ),
        (
            "redis: [{name: main, url: 'redis://h:1'}]\ncomponent_classes: [{name: cpu, "
            "workload: {name: w}, queues: [{name: q, kind: redis_list, target: other, key: k}]}]\n",
            "component_classes[0].queues[0].target",
            "no redis target named 'other'",
        ),
        (
            "component_classes: [{name: cpu, workload: {name: w}, min_replicas: 5, max_replicas: 2}]\n",
            "component_classes[0]",
            "min_replicas must not exceed max_replicas",
        ),
    ],
)
def test_bad_config_names_field_and_reason(tmp_path, text, field, reason):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    message = str(err.value)
    assert f"{field}:" in message, message
    assert reason in message, message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})


def test_env_overrides_reach_nested_fields_and_list_items():
    config = load_config(
        environ={
            "EXPORTER_ENVIRONMENT": "staging",
            "EXPORTER_COLLECTION__INTERVAL_SECONDS": "10",
            "EXPORTER_REDIS__0__URL": "redis://cache:6380/1",
        }
    )
    assert config.environment == "staging"
    assert config.collection.interval_seconds == 10
    assert config.redis[0].url == "redis://cache:6380/1"


def test_env_override_of_a_missing_list_item_is_an_error():
    with pytest.raises(ConfigError, match="EXPORTER_REDIS__5__URL"):
        load_config(environ={"EXPORTER_REDIS__5__URL": "redis://x:1"})


def test_secrets_from_file_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_PW", SECRET)
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\n")
    config = load_config(
        write(
            tmp_path,
            f"postgres: [{{name: main, dsn: 'postgresql://app@db:5432/app', password_file: '{secret_file}'}}]\n"
            "redis: [{name: main, url: 'redis://r:6379/0', password_env: REDIS_PW}]\n",
        ),
        environ={"REDIS_PW": SECRET},
    )
    assert config.postgres[0].password().get_secret_value() == SECRET
    assert config.redis[0].password().get_secret_value() == SECRET
    assert SECRET not in repr(config) and SECRET not in str(redacted_dump(config))


def test_unreadable_secret_file_names_the_field(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(
            write(
                tmp_path,
                "postgres: [{name: main, dsn: 'postgresql://a@h/d', password_file: /nope/pw}]\n",
            ),
            environ={},
        )
    assert "postgres[0]: cannot read password_file '/nope/pw'" in str(err.value)


def test_unset_secret_env_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="REDIS_PW.*not set"):
        load_config(
            write(tmp_path, "redis: [{name: main, url: 'redis://h:1', password_env: REDIS_PW}]\n"),
            environ={},
        )


def test_inline_dsn_password_is_redacted_everywhere(tmp_path):
    path = write(
        tmp_path, f"postgres: [{{name: main, dsn: 'postgresql://app:{SECRET}@db:5432/app'}}]\n"
    )
    dump = redacted_dump(load_config(path, environ={}))
    assert dump["postgres"][0]["dsn"] == "postgresql://app:***@db:5432/app"
    bad = write(tmp_path, f"postgres: [{{name: main, dsn: 'mysql://app:{SECRET}@db/app'}}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad, environ={})
    assert SECRET not in str(err.value) and "mysql://app:***@db/app" in str(err.value)


def test_every_target_kind_is_listed_redacted_and_reference_checked(tmp_path):
    text = (
        f"postgres: [{{name: main, dsn: 'postgresql://app:{SECRET}@db/app', pool_size: 3}}]\n"
        f"redis: [{{name: cache, url: 'redis://:{SECRET}@cache:6379/0'}}]\n"
    )
    config = load_config(write(tmp_path, text), environ={})
    assert Config.target_fields() == ("postgres", "redis")
    assert [(path, t.name) for path, t in config.located_targets()] == [
        ("postgres[0]", "main"),
        ("redis[0]", "cache"),
    ]
    dump = redacted_dump(config)
    assert SECRET not in str(dump)
    # Dumped in the order users write targets: name, the address, then the rest.
    assert list(dump["postgres"][0]) == [
        "name",
        "dsn",
        "password_file",
        "password_env",
        "pool_size",
        "collect",
    ]
    assert dump["redis"][0]["url"] == "redis://:***@cache:6379/0"
    duplicate = (
        text.split("redis:")[0]
        + "redis: [{name: a, url: 'redis://h'}, {name: a, url: 'redis://h'}]\n"
    )
    with pytest.raises(ConfigError, match="redis target names must be unique"):
        load_config(write(tmp_path, duplicate), environ={})


def test_cli_check_config_prints_redacted_effective_config(tmp_path):
    path = write(
        tmp_path, f"postgres: [{{name: main, dsn: 'postgresql://app:{SECRET}@db:5432/app'}}]\n"
    )
    result = cli("check-config", "--serve-only", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "postgresql://app:***@db:5432/app" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    # without --serve-only the manifests' rule applies: one masked line naming the field
    result = cli("check-config", "--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("exporter: postgres[0]: the URL holds a password")
    assert result.stderr.count("\n") == 1 and SECRET not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("environment: [1]\n", "environment:"),
        ("bogus: 1\n", "bogus: unknown key"),
        (
            f"postgres: [{{name: main, dsn: 'postgresql://u:{SECRET}@h:xx/d'}}]\n",
            "postgres[0].dsn: has an invalid port",
        ),
    ],
)
def test_cli_bad_config_exits_2_with_one_message(tmp_path, text, expected):
    for command in ("check-config", "serve"):
        result = cli(command, "--config", str(write(tmp_path, text)))
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr
        assert SECRET not in result.stderr + result.stdout


def test_cli_missing_config_file_exits_2(tmp_path):
    result = cli("serve", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr and "No such file" in result.stderr

"""Settings come from HIPPO_* variables; a bad one is named."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from hippo.shared.errors import SettingsError
from hippo.shared.settings import Settings, settings_table


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.api_tokens == ()
    assert settings.uses_dev_secret_key
    assert settings.mesos_master == ("http://127.0.0.1:5050",)


def test_lists_are_comma_separated() -> None:
    settings = Settings.from_env(
        {"HIPPO_MESOS_MASTER": "http://m1:5050, http://m2:5050", "HIPPO_API_TOKENS": "a,read:b,"}
    )
    assert settings.mesos_master == ("http://m1:5050", "http://m2:5050")
    assert settings.api_tokens == ("a", "read:b")


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("HIPPO_REDIS_URL", "localhost:6379", "must start with redis://"),
        ("HIPPO_TASK_RETENTION_S", "-5", "must be > 0"),
        ("HIPPO_TASK_RETENTION_PER_ID", "many", "invalid literal"),
        ("HIPPO_METRICS_PORT", "-1", "must be >= 0"),
        ("HIPPO_LOG_FORMAT", "xml", "must be plain or json"),
        ("HIPPO_SECRET_KEYS", "not-a-key", "key #1 is not a Fernet key"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert str(error.value).startswith(f"{variable}: ")
    assert message in str(error.value)
    assert variable != "HIPPO_SECRET_KEYS" or value not in str(error.value)


def test_secret_keys_newest_first() -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = Settings.from_env({"HIPPO_SECRET_KEYS": f"{new},{old}"})
    assert settings.cipher_keys == (new, old)
    assert not settings.uses_dev_secret_key


def test_table_lists_every_variable_once() -> None:
    names = [row[0] for row in settings_table()]
    assert len(names) == len(set(names))
    assert {
        "HIPPO_REDIS_URL",
        "HIPPO_MESOS_MASTER",
        "HIPPO_SECRET_KEYS",
        "HIPPO_API_TOKENS",
    } <= set(names)


def test_readme_documents_every_variable() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = [name for name, _, _ in settings_table() if f"`{name}`" not in readme]
    assert missing == []


def test_secret_settings_stay_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "HIPPO_MESOS_SECRET": "m-secret",
            "HIPPO_API_TOKENS": "a-token",
            "HIPPO_SECRET_KEYS": Fernet.generate_key().decode(),
        }
    )
    shown = repr(settings)
    assert "m-secret" not in shown and "a-token" not in shown
    assert settings.secret_keys[0] not in shown
    assert "redis_url=" in shown


def test_url_passwords_stay_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "HIPPO_REDIS_URL": "redis://app:hunter2@cache:6379/0",
            "HIPPO_MESOS_MASTER": "http://ops:letmein@m1:5050, m2:5050",
        }
    )
    shown = repr(settings)
    assert "hunter2" not in shown and "letmein" not in shown
    assert "redis_url='redis://app:********@cache:6379/0'" in shown
    assert "mesos_master=('http://ops:********@m1:5050', 'm2:5050')" in shown
    # The values themselves are untouched: only what is shown is masked.
    assert settings.redis_url == "redis://app:hunter2@cache:6379/0"


def test_repr_names_every_setting_but_the_secret_ones() -> None:
    shown = repr(Settings.from_env({}))
    for name in ("redis_prefix", "queue_lease_s", "log_format"):
        assert f"{name}=" in shown
    for name in ("secret_keys", "api_tokens", "mesos_secret"):
        assert f"{name}=" not in shown


@pytest.mark.parametrize(
    "env, replicas",
    [
        ({"HIPPO_REDIS_URL": "redis://r:6379/0"}, 0),
        ({"HIPPO_REDIS_URL": "redis+sentinel://s1:26379,s2/mymaster/0"}, 1),
        ({"HIPPO_REDIS_URL": "redis+sentinel://s1/mymaster", "HIPPO_REDIS_WAIT_REPLICAS": "0"}, 0),
        ({"HIPPO_REDIS_URL": "redis://r:6379/0", "HIPPO_REDIS_WAIT_REPLICAS": "2"}, 2),
    ],
)
def test_polls_wait_for_a_replica_by_default_only_with_sentinel(
    env: dict[str, str], replicas: int
) -> None:
    assert Settings.from_env(env).replicas_to_wait_for == replicas


def test_a_negative_replica_count_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="HIPPO_REDIS_WAIT_REPLICAS"):
        Settings.from_env({"HIPPO_REDIS_WAIT_REPLICAS": "-1"})

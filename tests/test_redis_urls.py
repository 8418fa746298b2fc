"""HIPPO_REDIS_URL's Sentinel form: what it names, and errors that name the problem
without showing the password."""

from __future__ import annotations

import pytest

from hippo.shared.errors import SettingsError
from hippo.shared.redis_urls import SentinelURL, parse_sentinel_url
from hippo.shared.settings import Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+sentinel://:pw@h1:26379,h2:26380/mymaster/0",
            SentinelURL((("h1", 26379), ("h2", 26380)), "mymaster", 0, None, "pw"),
        ),
        (
            "redis+sentinel://app:p%40ss@10.0.0.1,[::1]:5000/cache/3",
            SentinelURL((("10.0.0.1", 26379), ("::1", 5000)), "cache", 3, "app", "p@ss"),
        ),
        ("redis+sentinel://h1/mymaster", SentinelURL((("h1", 26379),), "mymaster")),
    ],
)
def test_a_sentinel_url_names_the_sentinels_the_master_and_the_login(
    url: str, expected: SentinelURL
) -> None:
    parsed = parse_sentinel_url(url)
    assert parsed == expected
    assert parsed.password == expected.password


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://:hunter2@h1:26379", "names no master"),
        ("redis+sentinel://:hunter2@/mymaster/0", "names no sentinel"),
        ("redis+sentinel://:hunter2@h1:port/mymaster", "port 'port'"),
        ("redis+sentinel://:hunter2@h1:26379/mymaster/x", "database 'x'"),
        ("redis+sentinel://:hunter2@h1/mymaster?ssl=1", "no query string"),
        ("sentinel://:hunter2@h1/mymaster", "must start with redis://"),
    ],
)
def test_a_bad_redis_url_is_refused_naming_the_problem_and_never_the_password(
    url: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"HIPPO_REDIS_URL": url})
    message = str(raised.value)
    assert message.startswith("HIPPO_REDIS_URL: ")
    assert problem in message
    assert "hunter2" not in message


def test_settings_show_a_sentinel_urls_password_masked() -> None:
    url = "redis+sentinel://:hunter2@h1:26379,h2:26379/mymaster/0"
    settings = Settings.from_env({"HIPPO_REDIS_URL": url})
    assert settings.redis_url == url
    assert "hunter2" not in repr(settings)
    assert "redis+sentinel://:********@h1:26379,h2:26379/mymaster/0" in repr(settings)
    assert "hunter2" not in repr(parse_sentinel_url(url))

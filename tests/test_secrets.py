"""Secrets: encryption at rest, key rotation, masking."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
import redis
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from hippo.shared.errors import SecretError
from hippo.shared.secrets import (
    MASK,
    SecretBox,
    mask_url_password,
    mask_url_passwords_in,
    unmask_url_password,
    url_password,
)


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored_with_old = SecretBox([old]).encrypt("hunter2")
    rotated = SecretBox([new, old])
    assert rotated.decrypt(stored_with_old) == "hunter2"
    stored_with_new = rotated.encrypt("hunter2")
    assert SecretBox([new]).decrypt(stored_with_new) == "hunter2"
    with pytest.raises(SecretError):
        SecretBox([old]).decrypt(stored_with_new)


def test_ciphertext_does_not_contain_the_secret() -> None:
    stored = SecretBox([Fernet.generate_key().decode()]).encrypt("hunter2")
    assert "hunter2" not in stored
    assert stored.startswith("enc:")


@pytest.mark.parametrize(
    "url, masked",
    [
        ("postgresql://app:pw@db:5432/x", f"postgresql://app:{MASK}@db:5432/x"),
        ("jdbc:postgresql://user:p%40ss@h:5432/db", f"jdbc:postgresql://user:{MASK}@h:5432/db"),
        ("postgresql://db/x", "postgresql://db/x"),
        ("mysql://root@db/x", "mysql://root@db/x"),
    ],
)
def test_url_password_is_masked(url: str, masked: str) -> None:
    assert mask_url_password(url) == masked


def test_a_url_that_does_not_parse_is_still_masked() -> None:
    # urlsplit refuses an unclosed IPv6 bracket; masking must not raise on it.
    assert mask_url_password("redis://:hunter2@[::1:6379/0") == f"redis://:{MASK}@[::1:6379/0"
    assert url_password("redis://:hunter2@[::1:6379/0") is None


@pytest.mark.parametrize(
    "url, password",
    [
        ("postgresql://app:pw@db:5432/x", "pw"),
        ("jdbc:mysql://root:s3cr3t@db/x", "s3cr3t"),
        ("redis://:hunter2@cache:6379/0", "hunter2"),
        ("mysql://root@db/x", None),
    ],
)
def test_url_password_is_found(url: str, password: str | None) -> None:
    assert url_password(url) == password


def test_every_url_password_in_a_text_is_masked() -> None:
    text = "cannot reach redis://:pw1@r:6379/0 nor postgresql://app:pw2@db/x (user@host ok)"
    assert mask_url_passwords_in(text) == (
        f"cannot reach redis://:{MASK}@r:6379/0 nor postgresql://app:{MASK}@db/x (user@host ok)"
    )


def test_url_sent_back_masked_gets_the_stored_password() -> None:
    stored = "postgresql://app:pw@db:5432/x"
    assert unmask_url_password(f"postgresql://app:{MASK}@db2:5432/y", stored) == (
        "postgresql://app:pw@db2:5432/y"
    )
    assert unmask_url_password("postgresql://app:new@db:5432/x", stored) == (
        "postgresql://app:new@db:5432/x"
    )


def test_rotate_secrets_command_re_encrypts_with_the_newest_key(
    make_client: Callable[..., TestClient], raw_redis: redis.Redis, redis_url: str
) -> None:
    import os
    import subprocess
    import sys

    from tests.examples import queue

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    make_client(HIPPO_SECRET_KEYS=old).post("/queues/", json=queue(id="q1"))
    result = subprocess.run(
        [sys.executable, "-m", "hippo", "rotate-secrets"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HIPPO_REDIS_URL": redis_url, "HIPPO_SECRET_KEYS": f"{new},{old}"},
    )
    assert result.returncode == 0, result.stderr
    assert "1 queues" in result.stdout

    from hippo.shared.queues import queue_document
    from hippo.shared.sources import load_sources

    # raw_redis does not decode replies; redis-py types them bytes | str all the same.
    fields = cast(dict[bytes, bytes], raw_redis.hgetall("hippo:queue:q1"))
    stored = {k.decode(): v for k, v in fields.items()}
    revealed = queue_document("q1", stored, load_sources(), SecretBox([new]), reveal=True)
    assert revealed["queue"]["sqs"]["awssecret"] == "someSecret"  # the old key is not needed

"""`hippo import-original` against an original Hippo's Redis layout (written here the way
the original wrote it: docs/migrating.md) and a live `hippo api`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hippo.shared.queues import queue_document
from hippo.shared.secrets import SecretBox
from hippo.shared.settings import Settings
from hippo.shared.sources import load_sources
from tests.conftest import free_port, start_hippo_api
from tests.examples import SPEC_QUEUE

CIPHER_KEY = "the-original's-cipher-key"
SECRETS = ("old-aws-secret", "old-db-password")


def original_encrypt(text: str, cipher_key: str) -> str:
    """As the original stored a record: AES-256-CBC under sha256(key), the text padded to
    32-byte blocks with N bytes of N, base64 of IV + ciphertext."""
    data = text.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    iv = os.urandom(16)
    key = hashlib.sha256(cipher_key.encode()).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def _queue(queue_id: str, queue_type: str, settings: dict[str, Any], **block: Any) -> Any:
    body = {k: v for k, v in SPEC_QUEUE.items() if k != "queue"}
    body["id"] = queue_id
    body["queue"] = {
        "type": queue_type,
        "name": f"old {queue_id}",
        "frequency_seconds": 60,
        "last_run_tstamp": 1700000000,
        "last_task_queued_tstamp": 1700000000,
        "status": "ENABLED",
        queue_type.lower(): settings,
        **block,
    }
    return body


def original_queues() -> list[tuple[dict[str, Any], bool]]:
    """(definition, stored encrypted) of each queue in the original's Redis."""
    closed = free_port()
    return [
        (
            _queue(
                "hippo-queue.sqs",
                "SQS",  # the original matched types in any case
                {"awskey": "AKIAOLD", "awssecret": SECRETS[0], "queuename": "jobs"},
            ),
            True,
        ),
        (
            _queue(
                "hippo-queue.s3",
                "s3bucket",
                {"awskey": "AKIAOLD", "awssecret": SECRETS[0], "bucket_name": "incoming"},
                last_s3key_processed_tstamp=1700000123.0,
            ),
            True,
        ),
        (_queue("hippo-queue.redis", "redis", {"host": "10.0.0.1", "name": "jobs"}), True),
        (
            _queue(
                "hippo-queue.sql",
                "sqlquery",
                {
                    "conn_string": f"postgresql://app:{SECRETS[1]}@127.0.0.1:{closed}/jobs",
                    "query": "SELECT id FROM jobs",
                    "filter_field": "id",
                    "filter_val": 41,
                },
            ),
            True,
        ),
        (_queue("hippo-queue.cron", "cron", {"cronstring": "0 3 * * *"}), False),  # plain
        (_queue("hippo-queue.bad", "cron", {}, frequency_seconds=0), True),
        (_queue("already-here", "cron", {}), True),
    ]


@pytest.fixture
def hippo_url(redis_url: str) -> Iterator[str]:
    process, url = start_hippo_api(redis_url)
    yield url
    process.terminate()
    process.wait(20)


@pytest.fixture
def original_redis(redis_url: str) -> Iterator[str]:
    """The original's Redis: database 1 of ours (our Hippo uses 0), in its layout."""
    url = redis_url.rsplit("/", 1)[0] + "/1"
    client = redis.Redis.from_url(url)
    for definition, encrypted in original_queues():
        key = f"hippo:queue:{definition['id']}"
        text = json.dumps(definition)
        client.set(key, original_encrypt(text, CIPHER_KEY) if encrypted else text)
        client.lpush("hippo:all_queueid_list", key)
    client.lpush("hippo:all_queueid_list", "hippo:queue:gone")  # listed, record lost
    client.close()
    yield url


def _import(hippo_url: str, original_redis: str, *flags: str, key: str = CIPHER_KEY) -> Any:
    env = {**os.environ, "AES_CIPHER_KEY": key, "HIPPO_URL": hippo_url}
    argv = [sys.executable, "-m", "hippo", "import-original", "--original-redis", original_redis]
    return subprocess.run([*argv, *flags], env=env, capture_output=True, text=True, timeout=120)


def _outcomes(stdout: str) -> dict[str, str]:
    """queue id -> outcome, from the report's lines."""
    found = {}
    for line in stdout.splitlines():
        if line and not line.startswith(" ") and "  " in line:
            outcome, queue_id = [part for part in line.split("  ") if part][:2]
            found[queue_id.strip()] = outcome.strip()
    return found


def _stored(redis_url: str, queue_id: str) -> dict[str, Any]:
    """A queue as the poller reads it: secrets decrypted with this Hippo's keys."""
    client = redis.Redis.from_url(redis_url)
    raw = client.hgetall(f"hippo:queue:{queue_id}")
    client.close()
    stored = {k.decode(): v for k, v in raw.items()}
    box = SecretBox(Settings.from_env({}).cipher_keys)
    return queue_document(queue_id, stored, load_sources(), box, reveal=True)


def test_a_dry_run_reports_each_queue_and_writes_nothing(
    hippo_url: str, original_redis: str
) -> None:
    with httpx.Client(base_url=hippo_url) as http:
        http.post("/queues/", json=_queue("already-here", "cron", {}))
        result = _import(hippo_url, original_redis, "--dry-run")
        assert [q["id"] for q in http.get("/queues/").json()] == ["already-here"]
    assert result.returncode == 1  # one refused, one unreadable
    assert _outcomes(result.stdout) == {
        "hippo-queue.sqs": "would create",
        "hippo-queue.s3": "would create",
        "hippo-queue.redis": "would create",
        "hippo-queue.sql": "would create",
        "hippo-queue.cron": "would create",
        "hippo-queue.bad": "refused",
        "already-here": "exists",
        "gone": "unreadable",
    }
    assert "    queue.frequency_seconds: " in result.stdout
    assert "dry run: nothing was written" in result.stdout
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)


def test_the_originals_queues_are_created_disabled_with_their_secrets(
    hippo_url: str, original_redis: str, redis_url: str
) -> None:
    with httpx.Client(base_url=hippo_url) as http:
        http.post("/queues/", json=_queue("already-here", "sqs", {"queuename": "mine"}))
        result = _import(hippo_url, original_redis)
        shown = {q["id"]: q for q in http.get("/queues/").json()}
    outcomes = _outcomes(result.stdout)
    assert result.returncode == 1
    assert {i for i, o in outcomes.items() if o == "created"} == {
        f"hippo-queue.{n}" for n in ("sqs", "s3", "redis", "sql", "cron")
    }
    assert (outcomes["hippo-queue.bad"], outcomes["already-here"]) == ("refused", "exists")
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)

    assert shown["already-here"]["queue"]["sqs"]["queuename"] == "mine"  # untouched
    created = {i: q for i, q in shown.items() if i.startswith("hippo-queue.")}
    assert set(created) == {f"hippo-queue.{n}" for n in ("sqs", "s3", "redis", "sql", "cron")}
    assert {q["queue"]["status"] for q in created.values()} == {"DISABLED"}
    assert created["hippo-queue.sqs"]["queue"]["type"] == "sqs"
    assert created["hippo-queue.cron"]["queue"]["cron"]["cronstring"] == "0 3 * * *"
    assert created["hippo-queue.sql"]["queue"]["sqlquery"]["filter_val"] == "41"
    # The original's watermark: the first second after the last key it took.
    s3 = created["hippo-queue.s3"]["queue"]["s3bucket"]
    assert s3["earliest_unix_tstamp"] == "1700000124"
    assert _stored(redis_url, "hippo-queue.sqs")["queue"]["sqs"]["awssecret"] == SECRETS[0]
    conn = _stored(redis_url, "hippo-queue.sql")["queue"]["sqlquery"]["conn_string"]
    assert f":{SECRETS[1]}@" in conn

    again = _import(hippo_url, original_redis)
    assert set(_outcomes(again.stdout).values()) == {"exists", "refused", "unreadable"}


def test_a_wrong_key_imports_no_encrypted_queue_and_says_why(
    hippo_url: str, original_redis: str
) -> None:
    result = _import(hippo_url, original_redis, key="not the key")
    outcomes = _outcomes(result.stdout)
    assert result.returncode == 1
    assert outcomes == {
        **{i: "unreadable" for i in outcomes if i != "hippo-queue.cron"},
        "hippo-queue.cron": "created",  # stored in clear: no key needed
    }
    assert "is AES_CIPHER_KEY the original's?" in result.stdout


def test_a_bad_or_unreachable_original_redis_is_one_line_and_exit_2() -> None:
    closed = free_port()
    for url, says in (
        ("old-host:6379", "hippo: --original-redis: "),
        (f"redis://:pw-of-old@127.0.0.1:{closed}/0", "hippo: cannot read the original's Redis"),
    ):
        result = _import(f"http://127.0.0.1:{closed}", url)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.startswith(says) and result.stderr.count("\n") == 1
        assert "pw-of-old" not in result.stderr

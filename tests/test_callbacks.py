"""Callbacks' promises that need no worker: how a body is signed, the backoff between
sends, and a callback secret never shown or echoed by the API."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from starlette.testclient import TestClient

from hippo.shared.callbacks import delivered, headers, retry_in_s, signature

JOB = {"container": {"docker": {"image": "alpine"}}, "mem": 32, "cpus": 0.1, "cmd": "true"}


def test_the_signature_is_the_hmac_sha256_of_the_body_under_the_secret() -> None:
    body = b'{"delivery_id":"a.1","event":"task.ended"}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature("key", body) == f"sha256={expected}"
    assert headers("a.1", "key", body)["X-Hippo-Signature"] == f"sha256={expected}"
    assert headers("a.1", "key", body)["X-Hippo-Delivery"] == "a.1"
    assert "X-Hippo-Signature" not in headers("a.1", "", body)  # no secret, no signature


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (11, 300.0), (12, None)],
)
def test_sends_back_off_doubling_to_300_s_then_give_up(attempts: int, expected: float) -> None:
    assert retry_in_s(attempts, max_attempts=12) == expected


def test_only_a_2xx_answer_delivers() -> None:
    assert [delivered(code) for code in (200, 204, 301, 404, 500)] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_callback_secret_is_masked_and_never_echoed(api: TestClient) -> None:
    created = api.post(
        "/tasks/", json={**JOB, "callback_url": "http://h/x", "callback_secret": "hush"}
    )
    assert created.status_code == 201 and created.json()["callback_secret"] == "********"
    assert "hush" not in api.get(f"/tasks/{created.json()['mesos_id']}/").text
    too_long = api.post(
        "/tasks/", json={**JOB, "callback_url": "http://h/x", "callback_secret": "hush" * 300}
    )
    assert too_long.status_code == 422 and "hush" not in too_long.text
    alone = api.post("/tasks/", json={**JOB, "callback_secret": "hush"})
    assert alone.status_code == 422 and "hush" not in alone.text
    assert alone.json()["errors"][0]["field"] == "callback_secret"
    masked = api.post(
        "/tasks/", json={**JOB, "callback_url": "http://h/x", "callback_secret": "********"}
    )
    assert masked.status_code == 422 and masked.json()["errors"][0]["field"] == "callback_secret"
    bad_url = api.post("/tasks/", json={**JOB, "callback_url": "file:///etc/passwd"})
    assert bad_url.status_code == 422
    assert bad_url.json()["errors"] == [
        {
            "field": "callback_url",
            "message": "must be an http:// or https:// URL with a host, got 'file:///etc/passwd'",
        }
    ]

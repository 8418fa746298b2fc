"""schemathesis against a live `hippo api` on our own Redis, from its /openapi.json: no
route answers 5xx, and every answer (status, content type, headers, body) is one the
document declares. Bounded and derandomized (the same requests every run), so it is
never flaky and takes seconds: `max_examples` per operation."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import start_hippo_api

MAX_EXAMPLES = 8  # per operation: ~45 operations, a few hundred requests
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_api(redis_server: str) -> Iterator[str]:
    process, url = start_hippo_api(redis_server)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_no_route_answers_5xx_or_off_its_schema(live_api: str) -> None:
    loaded = schemathesis.openapi.from_url(f"{live_api}/openapi.json", timeout=10)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=live_api, checks=CHECKS, timeout=10)

        try:
            call()
        except Exception as e:  # every operation is tried; all failures are reported
            failures[operation.label] = str(e)[:3000]
    assert failures == {}

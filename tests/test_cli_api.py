"""`hippo api` as users run it: a real uvicorn process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import start_hippo_api, stop_process
from tests.examples import SPEC_QUEUE


@pytest.fixture
def api_process(redis_url: str) -> Iterator[str]:
    process, url = start_hippo_api(redis_url, workers=2, output=subprocess.PIPE)
    try:
        yield url
    finally:
        output = stop_process(process).decode()
    assert "HIPPO_API_TOKENS is not set" in output


def test_hippo_api_serves_the_spec_queue(api_process: str) -> None:
    with httpx.Client(base_url=api_process) as http:
        queue_id = http.post("/queues/", json=SPEC_QUEUE).json()["id"]
        assert http.get(f"/queues/{queue_id}/").json()["queue"]["sqs"]["awssecret"] == "********"
        assert http.get(f"/queues/{queue_id}/toggle/").json()["status"] == "DISABLED"
        assert http.delete(f"/queues/{queue_id}/").status_code == 200
        assert http.get(f"/queues/{queue_id}").status_code == 404


def test_bad_setting_stops_hippo_api_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hippo", "api"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HIPPO_TASK_RETENTION_S": "soon"},
    )
    assert result.returncode != 0
    assert "HIPPO_TASK_RETENTION_S" in result.stderr


def test_openapi_document_lists_every_route(api_process: str) -> None:
    document = httpx.get(f"{api_process}/openapi.json").json()
    assert set(document["paths"]) >= {
        "/queues/",
        "/queues/{queue_id}/",
        "/queuetypes/",
        "/queues/{queue_id}/toggle/",
        "/tasks/",
        "/tasks/{mesos_id}/",
        "/tasks/{mesos_id}/kill/",
    }
    schemas = document["components"]["schemas"]
    assert schemas["TaskDefinition"]["properties"]["max_concurrent"]["default"] == 10
    assert schemas["QueueBlock"]["properties"]["batch_separator"]["default"] == "|"


def test_metrics_sum_requests_across_uvicorn_workers(api_process: str) -> None:
    # Fresh connections, so both worker processes answer some of them.
    for _ in range(30):
        assert httpx.get(f"{api_process}/queuetypes/").status_code == 200
    text = httpx.get(f"{api_process}/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("hippo_api_requests_total{")
        and 'route="/queuetypes/"' in line
        and 'status="200"' in line
    )
    assert counted == 30


@pytest.mark.parametrize("access_log", ["false", "true"])
def test_a_line_per_request_only_with_hippo_api_access_log(redis_url: str, access_log: str) -> None:
    # At INFO, the default level: uvicorn's access log had reached the root handler,
    # a line per request that nobody asked for, which nearly halved GET /healthz's req/s.
    process, url = start_hippo_api(
        redis_url,
        workers=1,
        output=subprocess.PIPE,
        HIPPO_LOG_LEVEL="INFO",
        HIPPO_API_ACCESS_LOG=access_log,
    )
    try:
        assert httpx.get(f"{url}/queuetypes/?probe=1").status_code == 200
    finally:
        output = stop_process(process).decode()
    assert "Application startup complete" in output  # INFO lines are printed
    logged = [line for line in output.splitlines() if "GET /queuetypes/?probe=1" in line]
    assert len(logged) == (1 if access_log == "true" else 0), output

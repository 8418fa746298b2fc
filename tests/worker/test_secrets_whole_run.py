"""No secret anywhere in a whole run: a live `hippo api` and a worker (poller and
leader, logging at DEBUG) on a Redis with a password, a Mesos principal's secret and a
master URL with a password, queues of every source type with secrets (some failing on
purpose, so their errors are logged and stored), callbacks with secrets (sent to nobody,
so their failures are logged), a task run through the dev master. Every answer of every
GET route, every POST answer, both /metrics pages and every captured log line are
searched for each secret."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from hippo.api.app import ROUTES
from hippo.api.routing import answered_paths
from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from tests.conftest import free_port, need_service, start_hippo_api, wait_until
from tests.sources.conftest import POSTGRES_URL

from .conftest import FAST, WorkerProcess

REDIS_PW = "redis-pw-7f3a"
MESOS_SECRET = "mesos-secret-91bc"
MESOS_URL_PW = "master-url-pw-2d44"
SOURCE_REDIS_PW = "source-redis-pw-5e10"
SQL_PW = "sql-pw-c7d2"
AWS_SECRET = "aws-secret-0a9e"
CALLBACK_SECRET = "callback-secret-66f1"
WRITE_TOKEN, READ_TOKEN = "write-token-b3c8", "read-token-48e2"
SECRET_KEY = Fernet.generate_key().decode()
SECRETS = [
    REDIS_PW,
    MESOS_SECRET,
    MESOS_URL_PW,
    SOURCE_REDIS_PW,
    SQL_PW,
    AWS_SECRET,
    CALLBACK_SECRET,
    WRITE_TOKEN,
    READ_TOKEN,
    SECRET_KEY,
]
JOB: dict[str, Any] = {
    "container": {"docker": {"image": "busybox"}},
    "mem": 32,
    "cpus": 0.1,
    "cmd": "echo $HIPPO_DATA",
}


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[str]:
    if not shutil.which("redis-server"):
        need_service("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(tmp_path), "--requirepass", REDIS_PW],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password=REDIS_PW)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, what="redis-server with a password")
        yield f"redis://:{REDIS_PW}@127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def _queue(queue_type: str, settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        **JOB,
        **extra,
        "id": f"q-{queue_type}",
        "queue": {"type": queue_type, "frequency_seconds": 0.5, queue_type: settings},
    }


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_secret_in_any_answer_log_line_or_metric_of_a_whole_run(
    redis_with_password: str, redis_url: str, tmp_path: Path
) -> None:
    closed_port = free_port()  # nothing listens here: the sends and polls to it fail
    dev = DevMaster(
        MasterConfig(agents=1, simulate_s=0.2, credentials={"hippo": MESOS_SECRET})
    ).start()
    env = {
        "HIPPO_API_TOKENS": f"{WRITE_TOKEN},read:{READ_TOKEN}",
        "HIPPO_SECRET_KEYS": SECRET_KEY,
        # The first master refuses connections, so its URL is logged (masked) at each try.
        "HIPPO_MESOS_MASTER": f"http://ops:{MESOS_URL_PW}@127.0.0.1:{closed_port},{dev.url}",
        "HIPPO_MESOS_PRINCIPAL": "hippo",
        "HIPPO_MESOS_SECRET": MESOS_SECRET,
        "HIPPO_LOG_LEVEL": "DEBUG",
        "HIPPO_CALLBACK_ATTEMPTS": "2",
    }
    api_log = (tmp_path / "api.log").open("wb")
    api_process, api_url = start_hippo_api(redis_with_password, output=api_log, **env)
    metrics_port = free_port()
    worker = WorkerProcess(
        {**FAST, **env, "HIPPO_REDIS_URL": redis_with_password, "HIPPO_POLL_RETRY_S": "0.5"},
        tmp_path / "worker.log",
        metrics_port,
    )
    http = httpx.Client(
        base_url=api_url, timeout=10, headers={"Authorization": f"Bearer {WRITE_TOKEN}"}
    )
    seen: list[str] = []  # every answer's body
    try:
        source_redis = httpx.URL(redis_url)
        callback = {
            "callback_url": f"http://127.0.0.1:{closed_port}/hook",
            "callback_secret": CALLBACK_SECRET,
        }
        queues = [
            _queue(
                "redis",
                {
                    "host": source_redis.host,
                    "port": source_redis.port,
                    "name": "items",
                    "password": SOURCE_REDIS_PW,
                },
                **callback,
            ),
            _queue(
                "sqlquery",
                {
                    # trust authentication: the password is sent and ignored
                    "conn_string": POSTGRES_URL.replace("postgres@", f"postgres:{SQL_PW}@"),
                    "query": "SELECT 1 AS id",
                    "filter_field": "id",
                },
            ),
            _queue(
                "sqs",
                {
                    "awskey": "key",
                    "awssecret": AWS_SECRET,
                    "awsregion": "us-east-1",
                    "queuename": "nothing",
                    "endpoint_url": f"http://127.0.0.1:{closed_port}",
                },
            ),
            _queue(
                "s3bucket",
                {
                    "awskey": "key",
                    "awssecret": AWS_SECRET,
                    "awsregion": "us-east-1",
                    "bucket_name": "nothing",
                    "endpoint_url": f"http://127.0.0.1:{closed_port}",
                },
            ),
        ]
        for body in queues:
            created = http.post("/queues/", json=body)
            assert created.status_code in (200, 201), created.text
            seen.append(created.text)
        run = http.post("/tasks/", json={**JOB, **callback, "env": {"X": "y"}})
        assert run.status_code == 201, run.text
        seen.append(run.text)
        mesos_id = run.json()["mesos_id"]

        def done() -> bool:
            task = http.get(f"/tasks/{mesos_id}/").json()
            queues_now = {q["id"]: q["queue"] for q in http.get("/queues/").json()}
            return (
                task["mesos_state"] == "TASK_FINISHED"
                and all(queues_now[q].get("last_error") for q in ("q-sqs", "q-s3bucket"))
                and all(queues_now[q].get("last_run_tstamp") for q in ("q-redis", "q-sqlquery"))
            )

        wait_until(done, 90, "the task finished and every failing source polled")
        wait_until(lambda: "callback" in worker.log.lower(), 30, "a callback send logged")

        params = {
            "queue_id": "q-redis",
            "mesos_id": mesos_id,
            "deadletter_id": "none",
            "name": "stdout",
            "asset": "index.html",
        }
        for route in ROUTES:
            if "GET" in (route.methods or set()) and not route.path.endswith(
                ("/toggle/", "/toggle", "/enable/", "/enable", "/disable/", "/disable")
                + ("/kill/", "/kill")
            ):
                for path, token in itertools.product(
                    answered_paths(route), (WRITE_TOKEN, READ_TOKEN)
                ):
                    answer = http.get(
                        path.format(**params), headers={"Authorization": f"Bearer {token}"}
                    )
                    seen.append(answer.text)
                    seen.append(str(answer.headers))
        for queue_id in ("q-sqlquery", "q-sqs", "q-s3bucket"):
            seen.append(http.get(f"/queues/{queue_id}/").text)
        seen.append(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)
        assert "hippo_" in seen[-1]
    finally:
        http.close()
        worker.terminate()
        api_process.terminate()
        api_process.wait(15)
        api_log.close()
        dev.stop()
    logs = (tmp_path / "api.log").read_text() + worker.log
    leaks = {
        secret: [
            where
            for where, text in [("answers", "\n".join(seen)), ("logs", logs)]
            if secret in text
        ]
        for secret in SECRETS
    }
    assert {s: w for s, w in leaks.items() if w} == {}
    # The run did go through what the secrets could leak from: the failing master, the
    # failing polls and callback sends.
    assert f"to http://127.0.0.1:{closed_port}/api/v1/scheduler" in logs
    assert "queue q-sqs: poll failed" in logs and "queue q-s3bucket: poll failed" in logs
    assert f"to http://127.0.0.1:{closed_port}/hook" in logs

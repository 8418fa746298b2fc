"""Every failure answers JSON that says what is wrong, and writes nothing."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from hippo.shared import errors
from tests.conftest import RedisServer, wait_until
from tests.examples import queue, task


def _nothing_stored(client: redis.Redis) -> bool:
    return client.dbsize() == 0


def test_malformed_json_is_400(api: TestClient, raw_redis: redis.Redis) -> None:
    response = api.post(
        "/tasks/", content=b'{"cmd": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("body is not valid JSON")
    assert _nothing_stored(raw_redis)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(api: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = api.post("/queues/", content=b"{}", headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_json_with_charset_is_accepted(api: TestClient) -> None:
    response = api.post(
        "/tasks/",
        content=httpx.Request("POST", "/", json=task()).content,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_body_over_one_mebibyte_is_413(api: TestClient, raw_redis: redis.Redis) -> None:
    body = task(cmd="x" * (1024 * 1024 + 1))
    response = api.post("/tasks/", json=body)
    assert response.status_code == 413
    assert _nothing_stored(raw_redis)


def test_streamed_body_over_the_limit_is_413(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(300):
            yield b"x" * 4096

    response = api.post("/tasks/", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_every_invalid_field_is_named_at_once(api: TestClient, raw_redis: redis.Redis) -> None:
    body = queue(
        cpus=-1,
        mem=0,
        cmd="",
        task_retries=-2,
        constraints=[["rack", "EQUALS", "r1"], ["host", "UNIQUE", "x"]],
    )
    body["container"]["docker"]["network"] = "WIFI"
    body["container"]["volumes"][0]["mode"] = "RX"
    body["queue"]["batch_size"] = 0
    del body["queue"]["sqs"]["queuename"]
    body["queue"]["sqs"]["awssecret"] = {"nested": "hunter2"}

    response = api.post("/queues/", json=body)

    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {
        "cpus",
        "mem",
        "cmd",
        "task_retries",
        "constraints.0.operator",
        "constraints.1",
        "container.docker.network",
        "container.volumes.0.mode",
        "queue.batch_size",
        "queue.sqs.queuename",
        "queue.sqs.awssecret",
    }
    assert errors["cpus"] == "Input should be greater than 0, got -1"
    assert errors["constraints.1"] == "UNIQUE takes no value"
    assert errors["queue.sqs.queuename"] == "Field required"
    assert "hunter2" not in response.text
    assert _nothing_stored(raw_redis)


def test_a_volume_without_host_path_is_refused_because_mesos_requires_it(
    api: TestClient, raw_redis: redis.Redis
) -> None:
    body = queue()
    body["container"]["volumes"] = [{"containerPath": "/data", "mode": "RW"}]

    response = api.post("/queues/", json=body)

    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"container.volumes.0.hostPath"}
    assert "Mesos requires hostPath" in errors["container.volumes.0.hostPath"]
    assert _nothing_stored(raw_redis)


def test_secret_value_never_echoed_in_errors(api: TestClient) -> None:
    body = queue()
    body["queue"] = {
        "type": "sqlquery",
        "sqlquery": {
            "conn_string": "oracle://u:topsecret@h/db",
            "query": "select 1",
            "filter_field": "id; drop table x",
        },
    }
    response = api.post("/queues/", json=body)
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"queue.sqlquery.conn_string", "queue.sqlquery.filter_field"}
    assert "topsecret" not in response.text
    assert "plain column name" in errors["queue.sqlquery.filter_field"]


@pytest.mark.parametrize(
    "body, field",
    [
        ([1, 2], "body"),
        ({**queue(), "queue": {"type": "nosuch"}}, "queue.type"),
        ({**queue(), "bogus": 1}, "bogus"),
        (
            {**queue(), "container": {"docker": {"image": "x", "network": "USER"}}},
            "container.docker",
        ),
    ],
)
def test_invalid_queue_bodies(api: TestClient, body: object, field: str) -> None:
    response = api.post("/queues/", json=body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_unknown_route_is_404_json(api: TestClient) -> None:
    response = api.get("/nothing/here/")
    assert response.status_code == 404
    assert response.json() == {"error": "no route /nothing/here/"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("PATCH", "/tasks/"),
        ("DELETE", "/queues/"),
        ("PUT", "/tasks/x.1/"),
        ("DELETE", "/queuetypes"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_method_is_405_json(api: TestClient, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.json()["error"] == f"method {method} is not allowed here"


def test_redis_down_is_503_and_the_api_recovers(
    make_settings: Callable[..., object], tmp_path: Path
) -> None:
    from hippo.api.app import create_app

    server = RedisServer(tmp_path)
    server.start()
    try:
        settings = make_settings(HIPPO_REDIS_URL=server.url)
        with TestClient(create_app(settings), raise_server_exceptions=False) as api:  # type: ignore[arg-type]
            # GET of one task, the first page and POST go over the pipelined connection
            # (shared/store/pipelined.py), the rest over redis-py's pool: both fail alike.
            assert api.app.state.store.pipelined is not None  # type: ignore[attr-defined]
            created = api.post("/tasks/", json=task())
            assert created.status_code == 201
            one = f"/tasks/{created.json()['mesos_id']}/"
            assert api.get(one).json() == created.json()
            server.stop()

            for response in (
                api.get("/tasks/"),
                api.get(one),
                api.get("/queues/"),
                api.post("/tasks/", json=task()),
                api.get("/readyz"),
            ):
                assert response.status_code == 503
                assert response.json() == {"error": "storage is unavailable, try again shortly"}
            assert api.get("/healthz").status_code == 200

            server.start()  # empty: the record is gone with the old process
            wait_until(lambda: api.get("/readyz").status_code == 200, what="API to recover")
            assert api.get(one).status_code == 404
            assert api.post("/tasks/", json=task()).status_code == 201
    finally:
        server.stop()


# One exception tree: each class says its status; the API registers one handler for all.

ERROR_STATUSES = [
    (errors.HippoError, 500),
    (errors.SettingsError, 500),
    (errors.SecretError, 500),
    (errors.StoreUnavailable, 503),
    (errors.StaleEpoch, 500),
    (errors.NotFound, 404),
    (errors.MesosUnreachable, 502),
    (errors.Conflict, 409),
    (errors.ValidationFailed, 422),
    (errors.BadBody, 400),
    (errors.BodyTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
]


def _hippo_error_classes() -> list[type[errors.HippoError]]:
    # Some modules define errors of their own under HippoError (a source's, the leader
    # store's); importing both processes' entry points makes them reachable.
    for module in ("hippo.api.app", "hippo.worker.main"):
        importlib.import_module(module)

    found: list[type[errors.HippoError]] = []
    pending = [errors.HippoError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _instance(cls: type[errors.HippoError]) -> errors.HippoError:
    if issubclass(cls, errors.ValidationFailed):
        return cls([errors.FieldError("cpus", "must be > 0, got -1")])
    return cls("what went wrong")


@pytest.mark.parametrize("cls, status", ERROR_STATUSES, ids=lambda v: getattr(v, "__name__", v))
def test_each_error_class_carries_its_http_status(
    cls: type[errors.HippoError], status: int
) -> None:
    assert cls.http_status == status


def test_the_tree_table_covers_every_class_of_shared_errors() -> None:
    defined = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.HippoError)
    }
    assert defined == {cls for cls, _ in ERROR_STATUSES}


def test_one_handler_is_registered_for_the_base_class(make_settings: Callable[..., object]) -> None:
    from hippo.api.app import create_app

    app = create_app(make_settings())  # type: ignore[arg-type]
    assert set(app.exception_handlers) == {HTTPException, errors.HippoError}


@pytest.mark.parametrize(
    "cls", _hippo_error_classes(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}"
)
def test_every_hippo_error_is_answered_as_json_with_its_status(
    make_settings: Callable[..., object], cls: type[errors.HippoError]
) -> None:
    from hippo.api.app import create_app

    async def fail(request: Request) -> Response:
        raise _instance(cls)

    app = create_app(make_settings())  # type: ignore[arg-type]
    app.router.routes.append(Route("/fail", fail))
    # No lifespan (no `with`): the route needs no store.
    response = TestClient(app, raise_server_exceptions=False).get("/fail")

    assert response.status_code == cls.http_status
    body = response.json()
    assert body["error"] == (cls.public_message or "what went wrong")
    if issubclass(cls, errors.ValidationFailed):
        assert body["errors"] == [{"field": "cpus", "message": "must be > 0, got -1"}]


def test_unknown_task_is_404_json(api: TestClient) -> None:
    response = api.get("/tasks/nosuch.1/")
    assert response.status_code == 404
    assert response.json() == {"error": "no task nosuch.1"}


def test_error_messages_never_show_a_url_password(make_settings: Callable[..., object]) -> None:
    from hippo.api.app import create_app

    async def fail(request: Request) -> Response:
        raise errors.ValidationFailed(
            [errors.FieldError("queue.conn", "cannot connect to mysql://root:hunter2@db/x")]
        )

    async def conflict(request: Request) -> Response:
        raise errors.Conflict("redis://:hunter2@cache:6379/0 refused the write")

    app = create_app(make_settings())  # type: ignore[arg-type]
    app.router.routes += [Route("/fail", fail), Route("/conflict", conflict)]
    client = TestClient(app, raise_server_exceptions=False)

    invalid, clash = client.get("/fail"), client.get("/conflict")
    assert "hunter2" not in invalid.text and "hunter2" not in clash.text
    assert invalid.json()["errors"][0]["message"] == (
        "cannot connect to mysql://root:********@db/x"
    )
    assert clash.json()["error"] == "redis://:********@cache:6379/0 refused the write"

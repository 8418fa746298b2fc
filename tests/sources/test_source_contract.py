"""The source contract: settings models give /queuetypes/, the settings block's JSON
schema and its validation errors; blocking sources run on the poller's threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest
from starlette.testclient import TestClient

from hippo.api import app as api_app
from hippo.shared import sources as source_registry
from hippo.shared.errors import ValidationFailed
from hippo.shared.model import validate_source_settings
from hippo.shared.sources import load_sources, settings_schema
from hippo.shared.sources.base import BlockingSource, Fetched, Item, PollRequest, Source
from hippo.shared.sources.settings import Secret, SourceSettings, Text
from hippo.worker import polling
from tests.conftest import wait_until
from tests.sources.conftest import PollerThread, create_queue

SOURCES = load_sources()


def _param(
    name: str, type_: str, default: Any, required: bool, secret: bool, label: str
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "default": default,
        "required": required,
        "secret": secret,
        "label": label,
    }


_AWS = [
    _param("awskey", "str", "", False, False, "AWS access key id (empty: default credentials)"),
    _param("awssecret", "str", "", False, True, "AWS secret access key"),
    _param("awsregion", "str", "us-east-1", False, False, "AWS region"),
    _param("endpoint_url", "str", "", False, False, "Endpoint URL of an AWS-compatible server"),
]

# /queuetypes/ as clients (the web UI, scripts) read it; it must not move.
QUEUETYPES = [
    {
        "type": "cron",
        "label": "Cron String",
        "parameters": [
            _param(
                "cronstring", "str", "* * * * *", False, False, "Cron expression (croniter syntax)"
            ),
            _param(
                "maxbacklog",
                "int",
                1,
                False,
                False,
                "Missed fire times run after an outage, at most",
            ),
            _param(
                "timezone",
                "str",
                "UTC",
                False,
                False,
                "Time zone the schedule is read in (IANA name, e.g. Europe/Berlin)",
            ),
        ],
    },
    {
        "type": "redis",
        "label": "Redis Queue",
        "parameters": [
            _param("host", "str", None, True, False, "Redis host"),
            _param("port", "int", 6379, False, False, "Redis port"),
            _param("db", "int", 0, False, False, "Redis database number"),
            _param("name", "str", None, True, False, "Name of the list"),
            _param("password", "str", "", False, True, "Redis password"),
            _param("ssl", "bool", False, False, False, "Connect with TLS"),
        ],
    },
    {
        "type": "s3bucket",
        "label": "AWS S3",
        "parameters": [
            *_AWS,
            _param("bucket_name", "str", None, True, False, "Bucket, or bucket/prefix"),
            _param(
                "earliest_unix_tstamp",
                "str",
                "",
                False,
                False,
                "Ignore keys modified before this unix time",
            ),
        ],
    },
    {
        "type": "sqlquery",
        "label": "SQL Query",
        "parameters": [
            _param("conn_string", "str", None, True, True, "Database URL"),
            _param("query", "str", None, True, False, "SELECT returning the rows to run"),
            _param("filter_field", "str", None, True, False, "Column the query is incremental on"),
            _param(
                "filter_val",
                "str",
                "",
                False,
                False,
                "Take rows with filter_field above this value",
            ),
        ],
    },
    {
        "type": "sqs",
        "label": "AWS SQS",
        "parameters": [*_AWS, _param("queuename", "str", None, True, False, "SQS queue name")],
    },
]


def test_queuetypes_lists_every_parameter_with_its_type_default_secrecy_and_label(
    api: TestClient,
) -> None:
    answered = api.get("/queuetypes/").json()
    # Beside our shape, the original Hippo's (tests/compat/test_original_bodies.py).
    without_help = [
        {
            "type": t["type"],
            "label": t["label"],
            "parameters": [{k: v for k, v in p.items() if k != "help"} for p in t["parameters"]],
        }
        for t in answered
    ]
    assert without_help == QUEUETYPES


def test_queuetypes_gives_each_parameter_its_help_from_the_settings_model(
    api: TestClient,
) -> None:
    """The UI's queue form shows it under each input; the JSON schema's description too."""
    for queue_type in api.get("/queuetypes/").json():
        schema = settings_schema(SOURCES[queue_type["type"]])["properties"]
        for p in queue_type["parameters"]:
            assert p["help"] == schema[p["name"]].get("description", "")
    (redis_type,) = [t for t in api.get("/queuetypes/").json() if t["type"] == "redis"]
    redis = {p["name"]: p for p in redis_type["parameters"]}
    assert (
        redis["name"]["help"] == "Each element is one item (LPUSH or RPUSH; taken from the head)."
    )


def test_settings_schema_declares_the_block_a_queue_of_each_type_takes() -> None:
    for queue_type in QUEUETYPES:
        source = SOURCES[queue_type["type"]]
        schema = settings_schema(source)
        params = queue_type["parameters"]
        assert list(schema["properties"]) == [p["name"] for p in params]
        assert schema.get("required", []) == [p["name"] for p in params if p["required"]]
        assert schema["additionalProperties"] is False
        for p in params:
            prop = schema["properties"][p["name"]]
            assert prop["title"] == p["label"]
            assert (
                prop["type"]
                == {
                    "str": "string",
                    "int": "integer",
                    "bool": "boolean",
                    "float": "number",
                }[p["type"]]
            )
            assert ("x-secret" in prop) is p["secret"]
            if not p["required"]:
                assert prop["default"] == p["default"]


def test_settings_schema_marks_whole_secrets_and_url_passwords_apart() -> None:
    sqs = settings_schema(SOURCES["sqs"])["properties"]["awssecret"]
    assert (sqs["x-secret"], sqs["format"]) == ("value", "password")
    sql = settings_schema(SOURCES["sqlquery"])["properties"]["conn_string"]
    assert sql["x-secret"] == "url-password" and "format" not in sql


@pytest.mark.parametrize(
    "block, valid",
    [
        ({"host": "h", "name": "jobs"}, True),
        ({"host": "h", "name": "jobs", "port": 6380, "ssl": True}, True),
        ({"name": "jobs"}, False),  # host is required
        ({"host": "h", "name": "jobs", "ssl": "yes"}, False),
        ({"host": "h", "name": "jobs", "typo": 1}, False),
    ],
)
def test_settings_schema_accepts_and_refuses_what_the_api_does(
    block: dict[str, Any], valid: bool
) -> None:
    schema = settings_schema(SOURCES["redis"])
    schema_says = jsonschema.Draft202012Validator(schema).is_valid(block)
    try:
        validate_source_settings(SOURCES["redis"], block)
        api_says = True
    except ValidationFailed:
        api_says = False
    assert (schema_says, api_says) == (valid, valid)


def _errors(queue_type: str, block: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failed:
        validate_source_settings(SOURCES[queue_type], block)
    return [(e.field, e.message) for e in failed.value.errors]


@pytest.mark.parametrize(
    "queue_type, block, errors",
    [
        ("sqs", [], [("queue.sqs", "must be an object")]),
        ("sqs", {}, [("queue.sqs.queuename", "Field required")]),
        (
            "sqs",
            {"zzz": 1, "queuename": [1], "awskey": {"a": 1}},
            [  # unknown names first, then the parameters in declaration order
                ("queue.sqs.zzz", "is not a parameter of this queue type"),
                ("queue.sqs.awskey", "must be a string, got {'a': 1}"),
                ("queue.sqs.queuename", "must be a string, got [1]"),
            ],
        ),
        ("sqs", {"queuename": True}, [("queue.sqs.queuename", "must be a string, got True")]),
        ("sqs", {"queuename": None}, [("queue.sqs.queuename", "must be a string, got None")]),
        (
            "s3bucket",
            {"bucket_name": "b", "earliest_unix_tstamp": "-5"},
            [
                (
                    "queue.s3bucket.earliest_unix_tstamp",
                    "must be a unix time in seconds (digits, optionally a fraction) or empty, "
                    "got '-5'",
                )
            ],
        ),
        (
            "s3bucket",
            {"bucket_name": "b", "earliest_unix_tstamp": True},
            [("queue.s3bucket.earliest_unix_tstamp", "must be a string, got True")],
        ),
        (
            "s3bucket",
            {"bucket_name": "/p"},
            [
                (
                    "queue.s3bucket.bucket_name",
                    "must name a bucket, optionally followed by /prefix, got '/p'",
                )
            ],
        ),
        (
            "redis",
            {"host": "h", "name": "l", "ssl": 1},
            [("queue.redis.ssl", "must be true or false, got 1")],
        ),
        (
            "redis",
            {"host": "h", "name": "l", "port": 70000},
            [("queue.redis.port", "must be a TCP port (1-65535), got 70000")],
        ),
        (
            "cron",
            {"cronstring": 5},
            [("queue.cron.cronstring", "is not a valid cron expression: '5', got '5'")],
        ),
        (
            "cron",
            {"maxbacklog": "x"},
            [("queue.cron.maxbacklog", "must be an integer, got 'x'")],
        ),
    ],
)
def test_settings_errors_name_the_parameter_and_the_value_sent(
    queue_type: str, block: Any, errors: list[tuple[str, str]]
) -> None:
    assert _errors(queue_type, block) == errors


@pytest.mark.parametrize(
    "queue_type, block, field",
    [
        ("sqs", {"queuename": "q", "awssecret": {"nested": "hunter2"}}, "queue.sqs.awssecret"),
        ("redis", {"host": "h", "name": "l", "password": ["hunter2"]}, "queue.redis.password"),
        (
            "sqlquery",
            {"conn_string": "oracle://u:hunter2@h/db", "query": "q", "filter_field": "id"},
            "queue.sqlquery.conn_string",
        ),
    ],
)
def test_settings_errors_never_echo_a_secret(queue_type: str, block: Any, field: str) -> None:
    errors = _errors(queue_type, block)
    assert [f for f, _ in errors] == [field]
    assert "hunter2" not in str(errors)


def test_numbers_sent_for_text_parameters_are_taken_as_text() -> None:
    settings = validate_source_settings(
        SOURCES["sqlquery"],
        {"conn_string": "postgresql://h/db", "query": 1, "filter_field": "id", "filter_val": 0.5},
    )
    assert settings.model_dump() == {
        "conn_string": "postgresql://h/db",
        "query": "1",
        "filter_field": "id",
        "filter_val": "0.5",
    }


def test_a_settings_model_with_a_parameter_type_queuetypes_cannot_name_is_refused() -> None:
    with pytest.raises(TypeError, match=r"TagSettings\.tags: a source parameter is"):

        class TagSettings(SourceSettings):
            tags: list[str] = []


class _NoSettings(SourceSettings):
    name: Text = "x"


class _Threaded(BlockingSource):
    namespace = "threaded"
    label = "Records the thread each method runs on"
    settings_model = _NoSettings

    def __init__(self, executor: ThreadPoolExecutor | None = None) -> None:
        super().__init__(executor)
        self.threads: dict[str, str] = {}
        self.stored: set[str] = set()

    def fetch_blocking(self, request: PollRequest[_NoSettings]) -> Fetched:
        self.threads["fetch"] = threading.current_thread().name
        return Fetched(items=[Item(data=request.settings.name, key="k")])

    def acknowledge_blocking(self, request: PollRequest[_NoSettings], fetched: Fetched) -> None:
        self.threads["acknowledge"] = threading.current_thread().name

    def give_back_blocking(
        self, request: PollRequest[_NoSettings], stored: Callable[[Sequence[str]], set[str]]
    ) -> None:
        self.threads["give_back"] = threading.current_thread().name
        self.stored = stored(["k", "other"])  # answered by the event loop, from this thread


def test_blocking_source_methods_run_on_the_pollers_threads_as_coroutines() -> None:
    request = PollRequest("q", _NoSettings(), 1, None, 0.0, 0.0)
    with ThreadPoolExecutor(2, thread_name_prefix="hippo-poll") as pool:
        source = _Threaded(pool)

        async def stored(keys: Sequence[str]) -> set[str]:
            return {key for key in keys if key == "k"}

        async def poll() -> Fetched:
            fetched = await source.fetch(request)
            await source.acknowledge(request, fetched)
            await source.give_back(request, stored)
            await source.close()
            return fetched

        fetched = asyncio.run(poll())
    assert fetched.items == [Item(data="x", key="k")]
    assert set(source.threads) == {"fetch", "acknowledge", "give_back"}
    assert source.stored == {"k"}
    assert all(name.startswith("hippo-poll") for name in source.threads.values())


def test_a_source_that_implements_nothing_says_what_to_implement() -> None:
    class Bare(Source):
        namespace = "bare"
        label = "Bare"
        settings_model = _NoSettings

    class BareBlocking(BlockingSource):
        namespace = "bareblocking"
        label = "Bare blocking"
        settings_model = _NoSettings

    request = PollRequest("q", _NoSettings(), 1, None, 0.0, 0.0)
    with pytest.raises(NotImplementedError, match=r"Bare\.fetch\(request\) must be a coroutine"):
        asyncio.run(Bare().fetch(request))
    with pytest.raises(NotImplementedError, match=r"BareBlocking\.fetch_blocking\(request\)"):
        asyncio.run(BareBlocking().fetch(request))


class _DriftBefore(SourceSettings):
    host: Text
    password: Secret = ""
    legacy: Text = ""


class _DriftAfter(SourceSettings):
    host: Text
    password: Secret = ""
    port: int = 7


class _DriftAfterRequired(SourceSettings):
    host: Text
    region: Text


def _drift_source(model: type[SourceSettings], seen: list[SourceSettings]) -> type[Source]:
    class Drift(BlockingSource):
        namespace = "drift"
        label = "A source whose parameters change between versions"
        settings_model = model

        def fetch_blocking(self, request: PollRequest[Any]) -> Fetched:
            seen.append(request.settings)
            return Fetched(items=[])

    return Drift


def _api_and_worker_versions(
    monkeypatch: pytest.MonkeyPatch, api_source: type[Source], worker_source: type[Source]
) -> None:
    real = source_registry.load_sources

    def for_api(enabled: tuple[str, ...] = ()) -> dict[str, type[Source]]:
        return {**real(), "drift": api_source}

    def for_worker(enabled: tuple[str, ...] = ()) -> dict[str, type[Source]]:
        return {**real(), "drift": worker_source}

    monkeypatch.setattr(api_app, "load_sources", for_api)
    monkeypatch.setattr(polling, "load_sources", for_worker)


def test_a_worker_reads_settings_saved_by_another_version_of_its_source(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., TestClient],
    start_poller: Callable[..., PollerThread],
) -> None:
    seen: list[SourceSettings] = []
    _api_and_worker_versions(
        monkeypatch, _drift_source(_DriftBefore, []), _drift_source(_DriftAfter, seen)
    )
    create_queue(make_client(), "drift", {"host": "h", "password": "pw-1", "legacy": "x"})
    start_poller()
    wait_until(lambda: bool(seen), what="a poll")
    # The parameter it dropped is ignored, the one it added has its default.
    assert seen[0] == _DriftAfter(host="h", password="pw-1", port=7)


def test_settings_a_worker_cannot_read_are_recorded_on_the_queue(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., TestClient],
    start_poller: Callable[..., PollerThread],
) -> None:
    seen: list[SourceSettings] = []
    _api_and_worker_versions(
        monkeypatch, _drift_source(_DriftBefore, []), _drift_source(_DriftAfterRequired, seen)
    )
    api = make_client()
    queue_id = create_queue(api, "drift", {"host": "h"})
    start_poller()

    def last_error() -> str:
        return str(api.get(f"/queues/{queue_id}/").json()["queue"].get("last_error") or "")

    wait_until(lambda: bool(last_error()), what="the poll error")
    assert last_error() == "settings not valid on this worker: queue.drift.region: Field required"
    assert seen == []

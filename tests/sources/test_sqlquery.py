"""SQL queues on the local PostgreSQL and MariaDB: rows after the watermark, once."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import Fetched, Item, PollRequest, SourceError
from hippo.shared.sources.sqlquery import (
    Mark,
    Row,
    SqlQuerySettings,
    SqlQuerySource,
    advance,
    take_rows,
)
from hippo.shared.sources.sqltext import statement_body
from tests.conftest import wait_until
from tests.sources.conftest import (
    MYSQL_URL,
    POSTGRES_URL,
    PollerThread,
    create_queue,
    queue_body,
    queue_fields,
    task_data,
)


@pytest.fixture(params=["postgresql", "mysql"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, str]]:
    """(connection, conn_string, table): a table of our own, dropped afterwards."""
    conn = request.getfixturevalue("postgres" if request.param == "postgresql" else "mysql")
    table = f"hippo_src_{uuid.uuid4().hex[:10]}"
    stamp = "TIMESTAMP" if request.param == "postgresql" else "DATETIME"
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id INTEGER, name VARCHAR(40), price DECIMAL(8,2), made {stamp})"
        )
    url = POSTGRES_URL if request.param == "postgresql" else MYSQL_URL
    yield conn, url, table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")


def _insert(conn: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", rows)


def _request(
    url: str,
    table: str,
    watermark: Any,
    limit: int = 100,
    filter_val: str = "",
    *,
    query: str = "SELECT * FROM {table};",
    field: str = "id",
) -> PollRequest[SqlQuerySettings]:
    settings = SqlQuerySettings(
        conn_string=url,
        query=query.format(table=table),
        filter_field=field,
        filter_val=filter_val,
    )
    return PollRequest("q", settings, limit, watermark, 0.0, 0.0)


def _fetch(source: SqlQuerySource, request: PollRequest[SqlQuerySettings]) -> Fetched:
    return asyncio.run(source.fetch(request))


def test_rows_come_in_filter_order_as_json_with_dates_and_decimals_as_strings(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(2, "b", "2.50", "2024-01-02 03:04:05"), (1, "a", None, None)])
    fetched = _fetch(SqlQuerySource(), _request(url, table, None))
    assert [json.loads(i.data) for i in fetched.items] == [
        [1, "a", None, None],
        [2, "b", "2.50", "2024-01-02 03:04:05"],
    ]
    assert fetched.watermark["value"] == 2


def test_rows_without_a_filter_value_are_skipped_and_the_watermark_moves_on(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(None, "no id", None, None), (1, "a", None, None)])
    source = SqlQuerySource()
    first = _fetch(source, _request(url, table, None))
    assert [json.loads(i.data)[1] for i in first.items] == ["a"]
    assert first.watermark["value"] == 1
    _insert(conn, table, [(2, "b", None, None)])
    second = _fetch(source, _request(url, table, first.watermark))
    assert [json.loads(i.data)[1] for i in second.items] == ["b"]


def test_filter_val_and_watermark_are_bound_and_rows_sharing_a_value_are_not_split(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(i // 2, f"n{i}", "1", None) for i in range(10)])  # ids 0,0,1,1,...
    source = SqlQuerySource()
    taken: list[str] = []
    watermark = None
    for _ in range(10):
        fetched = _fetch(source, _request(url, table, watermark, limit=3, filter_val="0"))
        taken += [json.loads(i.data)[1] for i in fetched.items]
        watermark = fetched.watermark or watermark
    # id > 0, each row once (rows sharing an id come in any order)
    assert sorted(taken) == [f"n{i}" for i in range(2, 10)] and len(taken) == 8
    hostile = _request(url, table, None, filter_val="0 OR 1=1; DROP TABLE x")
    # Bound as a value, never spliced into the SQL: PostgreSQL refuses the text as an
    # integer; MySQL casts it to its leading number, 0, so rows with id > 0 come (8, where
    # `OR 1=1` would have given all 10).
    if url == POSTGRES_URL:
        with pytest.raises(SourceError, match="invalid input syntax for type integer"):
            _fetch(source, hostile)
    else:
        assert len(_fetch(source, hostile).items) == 8
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        assert cur.fetchone()[0] == 10


def test_sql_queue_makes_tasks_and_stores_the_watermark_with_them(
    api: TestClient,
    raw_redis: redis.Redis,
    database: tuple[Any, str, str],
    start_poller: Callable[..., PollerThread],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(i, f"n{i}", "1.00", None) for i in range(1, 6)])
    queue_id = create_queue(
        api,
        "sqlquery",
        {
            "conn_string": url,
            "query": f"SELECT id, name FROM {table} WHERE name LIKE 'n%'",
            "filter_field": "id",
        },
    )
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 5, what="5 tasks")
    _insert(conn, table, [(6, "n6", "1.00", None)])
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 6, what="the 6th")
    assert [json.loads(d) for d in task_data(raw_redis, queue_id)] == [
        [i, f"n{i}"] for i in range(1, 7)
    ]
    assert json.loads(queue_fields(raw_redis, queue_id)["poll_watermark"])["value"] == 6


def test_bad_query_and_bad_password_are_recorded_masked(
    api: TestClient,
    raw_redis: redis.Redis,
    postgres: Any,
    start_poller: Callable[..., PollerThread],
) -> None:
    # A query that was good when saved (the check ran it) goes bad: its table is dropped.
    table = f"hippo_gone_{uuid.uuid4().hex[:10]}"
    with postgres.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INTEGER)")
    try:
        bad_query = create_queue(
            api,
            "sqlquery",
            {"conn_string": POSTGRES_URL, "query": f"SELECT * FROM {table}", "filter_field": "id"},
        )
    finally:
        with postgres.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
    bad_host = create_queue(
        api,
        "sqlquery",
        {
            "conn_string": "jdbc:postgresql://someone:s3cret-pw@127.0.0.1:1/test",
            "query": "SELECT 1 AS id",
            "filter_field": "id",
        },
    )
    start_poller()
    for queue_id in (bad_query, bad_host):
        wait_until(
            lambda q=queue_id: "last_error" in queue_fields(raw_redis, q), what=f"{queue_id} error"
        )
    assert table in queue_fields(raw_redis, bad_query)["last_error"]
    assert "s3cret-pw" not in queue_fields(raw_redis, bad_host)["last_error"]


def _kind(url: str) -> str:
    return "postgresql" if url == POSTGRES_URL else "mysql"


def _stored(watermark: Any) -> Any:
    """The watermark as the next poll reads it: through JSON, as the poller stores it."""
    return json.loads(json.dumps(watermark))


# --- the query's lexical shape: comments and a trailing `;` --------------------------


@pytest.mark.parametrize(
    ("query", "mysql", "body"),
    [
        ("SELECT id, v FROM jobs -- note", False, "SELECT id, v FROM jobs"),
        ("SELECT id, v FROM jobs -- note", True, "SELECT id, v FROM jobs"),
        ("SELECT id FROM jobs # note", True, "SELECT id FROM jobs"),
        ("SELECT 5 # 1 AS id", False, "SELECT 5 # 1 AS id"),  # PostgreSQL's XOR
        ("SELECT 1--1 AS id", True, "SELECT 1--1 AS id"),  # MySQL: 1 - -1
        ("SELECT 1 AS id /* a */ ;  /* b */\n", False, "SELECT 1 AS id"),
        ("SELECT 1 AS id;;\n-- done\n", True, "SELECT 1 AS id"),
        ("SELECT 1 AS id -- a\n;  # b", True, "SELECT 1 AS id"),
        ("SELECT 'it''s;' AS id; -- x", False, "SELECT 'it''s;' AS id"),
        ("SELECT 'a\\';--' AS id; # x", True, "SELECT 'a\\';--' AS id"),
        ("SELECT E'a\\';--' AS id; -- x", False, "SELECT E'a\\';--' AS id"),
        ("SELECT 'a\\' AS id; -- x", False, "SELECT 'a\\' AS id"),
        ("SELECT $$;--$$ AS id;", False, "SELECT $$;--$$ AS id"),
        ("SELECT $q$ $$ ; $q$ AS id ; ", False, "SELECT $q$ $$ ; $q$ AS id"),
        ("SELECT 1 AS id /* a /* b */ ; */ ;", False, "SELECT 1 AS id"),  # nested
        ("SELECT 1 AS id /* a /* b */ ;", True, "SELECT 1 AS id"),  # not nested
        ("SELECT `a;--` FROM t; # x", True, "SELECT `a;--` FROM t"),
        ('SELECT "a;--" FROM t; -- x', False, 'SELECT "a;--" FROM t'),
        ("SELECT id FROM a; SELECT id FROM b;", False, "SELECT id FROM a; SELECT id FROM b"),
    ],
)
def test_statement_body_ends_at_the_last_token_outside_strings_and_comments(
    query: str, mysql: bool, body: str
) -> None:
    assert statement_body(query, mysql) == body


@pytest.mark.parametrize(
    "tail",
    ["-- note", "/* note */", ";", "; -- done", ";\n/* a */ -- b\n  ", "\n-- a\n-- b"],
)
def test_queries_ending_in_comments_or_semicolons_run(
    database: tuple[Any, str, str], tail: str
) -> None:
    conn, url, table = database
    _insert(conn, table, [(1, ";--", None, None), (2, "b", None, None)])
    query = "SELECT id, name FROM {table} WHERE name <> 'x;--' -- the id\n  " + tail
    fetched = _fetch(SqlQuerySource(), _request(url, table, None, query=query))
    assert [json.loads(i.data) for i in fetched.items] == [[1, ";--"], [2, "b"]]


@pytest.mark.parametrize("database", ["mysql"], indirect=True)
def test_a_hash_comment_ends_a_mysql_query(database: tuple[Any, str, str]) -> None:
    conn, url, table = database
    _insert(conn, table, [(1, "a", None, None)])
    query = "SELECT id, name FROM {table}; # note"
    fetched = _fetch(SqlQuerySource(), _request(url, table, None, query=query))
    assert [json.loads(i.data) for i in fetched.items] == [[1, "a"]]


def test_a_query_ending_in_a_comment_is_saved_and_polled(
    api: TestClient,
    raw_redis: redis.Redis,
    database: tuple[Any, str, str],
    start_poller: Callable[..., PollerThread],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(1, "a", None, None), (2, "b", None, None)])
    queue_id = create_queue(
        api,
        "sqlquery",
        {
            "conn_string": url,
            "query": f"SELECT id, name FROM {table} -- note",
            "filter_field": "id",
        },
    )
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 2, what="2 tasks")
    assert "last_error" not in queue_fields(raw_redis, queue_id)


# --- the check when a queue is saved ---------------------------------------------------


def _sql_body(url: str, query: str, field: str = "id", **block: Any) -> dict[str, Any]:
    return queue_body(
        "sqlquery", {"conn_string": url, "query": query, "filter_field": field}, **block
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT id FROM {table} WHERE",
            {"postgresql": "syntax error", "mysql": "You have an error in your SQL syntax"},
        ),
        (
            "SELECT id FROM no_such_table_hippo",
            {"postgresql": "no_such_table_hippo", "mysql": "no_such_table_hippo"},
        ),
        (
            "SELECT nosuchcolumn FROM {table}",
            {"postgresql": "nosuchcolumn", "mysql": "nosuchcolumn"},
        ),
        (
            "SELECT id FROM {table}; SELECT 2 AS id",
            {"postgresql": "syntax error", "mysql": "You have an error in your SQL syntax"},
        ),
    ],
)
def test_saving_a_query_the_database_refuses_is_422_naming_the_query_with_its_message(
    api: TestClient, database: tuple[Any, str, str], query: str, message: dict[str, str]
) -> None:
    _, url, table = database
    body = _sql_body(url, query.format(table=table))
    response = api.post("/queues/", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "queue.sqlquery.query"
    assert error["message"].startswith(f"{_kind(url)} refused it: ")
    assert message[_kind(url)] in error["message"]
    assert api.get(f"/queues/{body['id']}/").status_code == 404


def test_saving_a_query_without_the_filter_column_is_422_naming_filter_field(
    api: TestClient, database: tuple[Any, str, str]
) -> None:
    _, url, table = database
    response = api.post("/queues/", json=_sql_body(url, f"SELECT id FROM {table}", "made"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "field": "queue.sqlquery.filter_field",
            "message": "the query returns no column 'made' (filter_field); it returns id",
        }
    ]


def test_replacing_a_queue_checks_the_new_query_and_keeps_the_stored_one_when_refused(
    api: TestClient, database: tuple[Any, str, str]
) -> None:
    _, url, table = database
    body = _sql_body(url, f"SELECT * FROM {table}")
    assert api.post("/queues/", json=body).status_code == 201
    body["queue"]["sqlquery"]["query"] = f"SELECT * FROM {table} WHERE"
    response = api.put(f"/queues/{body['id']}/", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "queue.sqlquery.query"
    shown = api.get(f"/queues/{body['id']}/").json()
    assert shown["queue"]["sqlquery"]["query"] == f"SELECT * FROM {table}"


def test_a_database_unreachable_at_save_time_does_not_block_saving_and_is_logged(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hippo.shared.sources.sqlquery")
    body = _sql_body("postgresql://someone:s3cret-pw@127.0.0.1:1/test", "SELECT FROM WHERE")
    response = api.post("/queues/", json=body)
    assert response.status_code == 201, response.text
    assert "query not checked, postgresql cannot be reached" in caplog.text
    assert "s3cret-pw" not in caplog.text


def test_the_save_check_runs_off_the_event_loop(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    loops: list[bool] = []

    def check(cls: type[SqlQuerySource], settings: SqlQuerySettings) -> None:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:
            loops.append(False)

    monkeypatch.setattr(SqlQuerySource, "check", classmethod(check))
    body = _sql_body("postgresql://127.0.0.1:1/test", "SELECT 1 AS id")
    assert api.post("/queues/", json=body).status_code == 201
    assert loops == [False]


# --- the watermark: rows sharing a filter value --------------------------------------

# Rows A, B, C: B has A's filter value (arrives after A was taken), C a greater one.
_SHARED_VALUE_ROWS = {
    "made": [
        (1, "a", "1.00", "2024-05-01 11:00:00"),
        (2, "b", "1.00", "2024-05-01 11:00:00"),
        (3, "c", "1.00", "2024-05-01 11:00:01"),
    ],
    "id": [(1, "a", "1.00", None), (1, "b", "2.00", None), (2, "c", "1.00", None)],
    "name": [(1, "m", "1.00", None), (2, "m", "1.00", None), (3, "n", "1.00", None)],
}


@pytest.mark.parametrize("field", ["made", "id", "name"])
def test_a_row_arriving_later_with_the_watermark_value_is_taken_once(
    database: tuple[Any, str, str], field: str
) -> None:
    conn, url, table = database
    a, b, c = _SHARED_VALUE_ROWS[field]
    source = SqlQuerySource()
    _insert(conn, table, [a])
    first = _fetch(source, _request(url, table, None, field=field))
    assert [json.loads(i.data)[0:2] for i in first.items] == [list(a[0:2])]
    _insert(conn, table, [b, c])
    second = _fetch(source, _request(url, table, _stored(first.watermark), field=field))
    assert [json.loads(i.data)[0:2] for i in second.items] == [list(b[0:2]), list(c[0:2])]
    third = _fetch(source, _request(url, table, _stored(second.watermark), field=field))
    assert third.items == [] and third.watermark is None


def test_sql_queue_runs_a_row_inserted_later_at_the_watermark_time(
    api: TestClient,
    raw_redis: redis.Redis,
    database: tuple[Any, str, str],
    start_poller: Callable[..., PollerThread],
) -> None:
    conn, url, table = database
    a, b, c = _SHARED_VALUE_ROWS["made"]
    _insert(conn, table, [a])
    queue_id = create_queue(
        api,
        "sqlquery",
        {"conn_string": url, "query": f"SELECT id, made FROM {table}", "filter_field": "made"},
    )
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 1, what="A's task")
    _insert(conn, table, [b, c])
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 3, what="B's and C's tasks")
    assert [json.loads(d)[0] for d in task_data(raw_redis, queue_id)] == [1, 2, 3]


def test_a_watermark_of_the_old_format_reads_as_every_row_at_its_value_taken(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(i, f"n{i}", None, None) for i in (1, 2, 2, 3)])
    old = {"field": "id", "from": "", "value": 2}
    fetched = _fetch(SqlQuerySource(), _request(url, table, old))
    assert [json.loads(i.data)[0] for i in fetched.items] == [3]
    assert fetched.watermark["value"] == 3 and len(fetched.watermark["keys"]) == 1


def test_identical_rows_sharing_the_watermark_value_do_not_stall_the_queue(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    stamp = "2024-05-01 11:00:00"
    _insert(conn, table, [(1, "a", None, stamp)] * 5 + [(2, "b", None, "2024-05-01 11:00:01")])
    source = SqlQuerySource()
    watermark, taken = None, []
    for _ in range(3):
        request = _request(url, table, watermark, 2, query="SELECT made FROM {table}", field="made")
        fetched = _fetch(source, request)
        taken += [json.loads(i.data)[0] for i in fetched.items]
        watermark = _stored(fetched.watermark) if fetched.watermark else watermark
    # the 5 identical rows are 5 items of one key (one task); then the next value comes
    assert taken == [stamp] * 5 + ["2024-05-01 11:00:01"]


def _row(value: Any, key: str) -> Row:
    return Row(value, Item(data=key, key=key))


@pytest.mark.parametrize(
    ("rows", "mark", "limit", "cut", "taken", "whole"),
    [
        ([(1, "1"), (2, "2a"), (2, "2b")], None, 5, False, ["1", "2a", "2b"], None),
        # over the limit (rows at the mark's value were deleted): 2 is left whole
        ([(1, "1"), (2, "2a"), (2, "2b"), (3, "3")], None, 2, False, ["1"], None),
        ([(1, "1"), (2, "2a"), (2, "2b")], None, 5, True, ["1"], None),  # 2 may go on
        ([(2, "2a"), (2, "2b")], None, 5, True, [], 2),  # one value only: read it whole
        (
            [(1, "1a"), (1, "1b"), (2, "2")],
            Mark(1, frozenset({"1a"}), 1, False),
            5,
            False,
            ["1b", "2"],
            None,
        ),
        (
            [(1, "1a"), (1, "1a"), (1, "1a")],
            Mark(1, frozenset({"1a"}), 1, False),
            1,
            True,
            [],
            1,
        ),  # identical rows, all taken: read the value whole to count them
    ],
)
def test_take_rows_skips_taken_keys_and_never_splits_a_value(
    rows: list[tuple[int, str]],
    mark: Mark | None,
    limit: int,
    cut: bool,
    taken: list[str],
    whole: Any,
) -> None:
    got, got_whole = take_rows([_row(v, k) for v, k in rows], mark, limit, cut)
    assert ([r.item.key for r in got], got_whole) == (taken, whole)


def test_advance_keeps_the_keys_taken_before_at_the_same_value() -> None:
    before = Mark(5, frozenset({"5a"}), 2, strict=False)
    assert advance(before, [_row(5, "5b")]) == Mark(5, frozenset({"5a", "5b"}), 3, strict=False)
    assert advance(before, [_row(5, "5b"), _row(6, "6a")]) == Mark(6, frozenset({"6a"}), 1, False)
    assert advance(Mark(5), [_row(6, "6a")]) == Mark(6, frozenset({"6a"}), 1, strict=False)
    assert advance(before, []) is None


def test_replacing_a_queue_checks_it_with_the_stored_password_when_sent_masked(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def check(cls: type[SqlQuerySource], settings: SqlQuerySettings) -> None:
        checked.append(settings.conn_string)

    monkeypatch.setattr(SqlQuerySource, "check", classmethod(check))
    body = _sql_body("postgresql://app:pg-pass@127.0.0.1:1/test", "SELECT 1 AS id")
    shown = api.post("/queues/", json=body).json()
    assert shown["queue"]["sqlquery"]["conn_string"] == "postgresql://app:********@127.0.0.1:1/test"
    shown["queue"]["sqlquery"]["query"] = "SELECT 2 AS id"
    assert api.put(f"/queues/{body['id']}/", json=shown).status_code == 200
    assert checked == ["postgresql://app:pg-pass@127.0.0.1:1/test"] * 2


# Injection payloads: each would select every row (or drop the table) if spliced into
# the SQL; bound as a value, each is a string above every name in the table.
FILTER_VAL_PAYLOADS = [
    "z' OR '1'='1",
    "z'; DROP TABLE {table}; --",
    "z' UNION SELECT 1, 'x', 1, NULL --",
    'z" OR "1"="1',
    "z\\' OR 1=1 -- ",
    "z' OR 1=1 #",
]


@pytest.mark.parametrize("payload", FILTER_VAL_PAYLOADS)
def test_filter_val_injection_payloads_are_bound_as_values(
    database: tuple[Any, str, str], payload: str
) -> None:
    conn, url, table = database
    _insert(conn, table, [(1, "alpha", None, None), (2, "beta", None, None)])
    hostile = _request(url, table, None, filter_val=payload.format(table=table), field="name")
    assert _fetch(SqlQuerySource(), hostile).items == []
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        assert cur.fetchone()[0] == 2


@pytest.mark.parametrize(
    "field",
    [
        "id; DROP TABLE {table}",
        "id) OR (1=1",
        "id --",
        '"id"',
        "`id`",
        "id OR 1=1",
        "1",
    ],
)
def test_a_filter_field_that_is_not_an_identifier_is_refused_naming_the_field(
    api: TestClient, raw_redis: redis.Redis, database: tuple[Any, str, str], field: str
) -> None:
    conn, url, table = database
    body = _sql_body(url, f"SELECT * FROM {table}", field.format(table=table))
    response = api.post("/queues/", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "queue.sqlquery.filter_field"
    # refused for what it is, before any SQL runs (not for naming no column)
    assert "must be a plain column name" in error["message"]
    assert raw_redis.keys("hippo:queue*") == []
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        assert cur.fetchone()[0] == 0

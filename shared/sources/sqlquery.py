"""Rows of a SQL query, taken incrementally on a filter column.

The user's query is wrapped as a subquery (sqltext.py: on lines of its own, without a
trailing `;` or comment): `SELECT * FROM (<query>) AS hippo_rows WHERE <filter_field> >=
%s ORDER BY <filter_field> LIMIT %s`. `filter_field` is a checked plain identifier; the
value is always a bound parameter. The filter column need not be unique, so the
watermark is the last value taken plus the keys of the rows taken at it (as s3bucket's
is): a row that arrives later with that same value is still taken, once. PostgreSQL
through psycopg2, MySQL/MariaDB through PyMySQL (the `mysql` extra).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, Field

from hippo.shared.errors import FieldError, ValidationFailed
from hippo.shared.sources.base import BlockingSource, Fetched, Item, PollRequest, SourceError
from hippo.shared.sources.settings import SecretURL, SourceSettings, Text
from hippo.shared.sources.sqltext import wrapped

log = logging.getLogger(__name__)

POLL_CONNECT_TIMEOUT_S = 10  # a poll gives up on an unreachable database after this
POLL_STATEMENT_TIMEOUT_S = 60  # and on a query running longer than this
# The check when a queue is saved runs within the API request, so it must be quick; the
# query runs with LIMIT 0, so only a database that is down or overloaded takes this long.
CHECK_TIMEOUT_S = 5
# Error classes that say the database could not answer, not that it refused the query:
# PostgreSQL SQLSTATE classes (connection, resources, cancelled or timed out, system)
# and MySQL/MariaDB codes (statement timeouts; 2000 and up are the client's own).
_PG_NOT_A_VERDICT = ("08", "53", "57", "58")
_MYSQL_TIMEOUTS = (1969, 3024)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMES = (
    "postgresql://",
    "postgres://",
    "jdbc:postgresql://",
    "mysql://",
    "jdbc:mysql://",
    "mariadb://",
)


def _database_url(value: str) -> str:
    if not value.startswith(_SCHEMES):
        raise ValueError("must be a URL starting with one of " + ", ".join(_SCHEMES))
    return value


def _plain_identifier(value: str) -> str:
    # The column name is the only user text that reaches SQL, so it must be plain.
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"must be a plain column name (letters, digits, _), got {value!r}")
    return value


class SqlQuerySettings(SourceSettings):
    conn_string: Annotated[
        SecretURL,
        Field(
            title="Database URL",
            description="postgresql://user:pw@host/db or mysql://...; only the password is secret.",
        ),
        AfterValidator(_database_url),
    ]
    query: Annotated[
        Text,
        Field(
            title="SELECT returning the rows to run",
            description="One SELECT; each row, as JSON, is one item.",
        ),
    ]
    filter_field: Annotated[
        Text,
        Field(
            title="Column the query is incremental on",
            description="Rows are taken in this column's order, each once.",
        ),
        AfterValidator(_plain_identifier),
    ]
    filter_val: Annotated[
        Text,
        Field(
            title="Take rows with filter_field above this value",
            description="Empty: from the first row.",
        ),
    ] = ""


class SqlQuerySource(BlockingSource):
    namespace = "sqlquery"
    label = "SQL Query"
    settings_model = SqlQuerySettings

    @classmethod
    def check(cls, settings: SqlQuerySettings) -> None:
        """Run the wrapped query with LIMIT 0, read-only, and refuse the queue when the
        database refuses the query or it lacks the filter column. A database that cannot
        be reached (or answer in time) does not block saving: the check is skipped, with
        a warning in the log, and polls will record the error."""
        kind, connect = _connector(settings.conn_string, CHECK_TIMEOUT_S, read_only=True)
        query = _wrapped_query(settings.query, kind)
        try:
            conn = connect()
        except Exception as e:
            log.warning(
                "sqlquery: query not checked, %s cannot be reached: %s",
                kind,
                settings.mask_in(_message(e)),
            )
            return
        try:
            with conn.cursor() as cursor:
                if kind == "mysql":
                    cursor.execute("START TRANSACTION READ ONLY")
                cursor.execute(f"{query} LIMIT %s", [0])
                description = cursor.description
        except Exception as e:
            message = settings.mask_in(_message(e))
            if not _refused_by_database(kind, e):
                log.warning("sqlquery: query not checked, %s did not answer: %s", kind, message)
                return
            raise ValidationFailed(
                [FieldError(f"queue.{cls.namespace}.query", f"{kind} refused it: {message}")]
            ) from None
        finally:
            conn.close()  # rolling back MySQL's read-only transaction
        try:
            _column_index(description, settings.filter_field)
        except SourceError as e:
            raise ValidationFailed(
                [FieldError(f"queue.{cls.namespace}.filter_field", str(e))]
            ) from None

    def fetch_blocking(self, request: PollRequest[SqlQuerySettings]) -> Fetched:
        settings = request.settings
        field = settings.filter_field
        _plain_identifier(field)  # checked at save time too; this is the line that uses it
        mark = read_mark(request.watermark, field, settings.filter_val)
        kind, connect = _connector(settings.conn_string, POLL_STATEMENT_TIMEOUT_S)
        query = _wrapped_query(settings.query, kind)
        try:
            conn = connect()
        except Exception as e:
            raise SourceError(f"{kind}: cannot connect: {_message(e)}") from e
        try:
            with conn.cursor() as cursor:
                # Rows taken at the mark's value come again (>=): read that many more.
                query_limit = request.limit + (mark.rows if mark else 0)
                cursor.execute(
                    f"{query} WHERE {_after(field, mark)} ORDER BY {field} LIMIT %s",
                    [*([] if mark is None else [mark.value]), query_limit],
                )
                index = _column_index(cursor.description, field)
                rows = [_row(values, index) for values in cursor.fetchall()]
                taken, whole = take_rows(rows, mark, request.limit, len(rows) >= query_limit)
                if whole is None:
                    new_mark = advance(mark, taken)
                else:  # every row left shares one value: take all rows with it at once
                    cursor.execute(f"{query} WHERE {field} = %s", [whole])
                    taken, new_mark = take_whole(
                        [_row(values, index) for values in cursor.fetchall()], mark
                    )
        except SourceError:
            raise
        except Exception as e:
            raise SourceError(f"{kind}: query failed: {_message(e)}") from e
        finally:
            conn.close()
        if new_mark is None:
            return Fetched(items=[])
        watermark = {
            "field": field,
            "from": settings.filter_val,
            "value": new_mark.value,
            "keys": sorted(new_mark.keys),
            "rows": new_mark.rows,
        }
        return Fetched(items=[row.item for row in taken], watermark=watermark)


@dataclass(frozen=True)
class Mark:
    """Where a poll starts: rows with a filter value above `value`, and rows at `value`
    whose key is not in `keys`; when `strict`, every row at `value` counts as taken."""

    value: Any  # JSON form: dates, times and decimals as text
    keys: frozenset[str] = frozenset()
    rows: int = 0  # rows taken at `value`; identical rows share a key, so may exceed keys
    strict: bool = True


class Row(NamedTuple):
    value: Any  # the filter value, JSON form
    item: Item


def read_mark(watermark: Any, field: str, filter_val: str) -> Mark | None:
    """The stored watermark while the queue's filter settings are the ones it was made
    with; else filter_val (None: from the first row). A watermark of the old format
    (a value without keys) meant every row at its value was taken: it reads as strict."""
    if (
        isinstance(watermark, dict)
        and watermark.get("field") == field
        and watermark.get("from") == filter_val
    ):
        if "keys" not in watermark:
            return Mark(watermark.get("value"))
        keys = frozenset(watermark["keys"])
        return Mark(watermark["value"], keys, int(watermark.get("rows", len(keys))), strict=False)
    return Mark(filter_val) if filter_val != "" else None


def take_rows(
    rows: Sequence[Row], mark: Mark | None, limit: int, cut: bool
) -> tuple[list[Row], Any]:
    """The rows a poll takes from `rows` (the query's, in filter order; `cut`: its LIMIT
    may have left more): those not taken before, at most `limit`, never part of a value
    whose rows may go on past the cut (they come whole in the next poll). When every row
    left to take shares one value, ([], that value): take all rows with it at once."""
    seen = mark.keys if mark else frozenset()
    fresh = [row for row in rows if row.item.key not in seen]
    if len(fresh) > limit:
        boundary = fresh[limit].value
    elif cut and rows:
        boundary = rows[-1].value
    else:
        return fresh, None
    kept = [row for row in fresh[:limit] if row.value != boundary]
    return (kept, None) if kept else ([], boundary)


def advance(mark: Mark | None, taken: Sequence[Row]) -> Mark | None:
    """The mark after `taken` (in filter order); None when nothing was taken."""
    if not taken:
        return None
    last = taken[-1].value
    at_last = [row for row in taken if row.value == last]
    keys, rows = {row.item.key for row in at_last}, len(at_last)
    if mark is not None and not mark.strict and mark.value == last:
        keys |= mark.keys
        rows += mark.rows
    return Mark(last, frozenset(keys), rows, strict=False)


def take_whole(every: Sequence[Row], mark: Mark | None) -> tuple[list[Row], Mark | None]:
    """The rows to take from `every` row sharing one value, and the mark after them."""
    if not every:  # deleted since the first read: the next poll reads again
        return [], None
    seen = mark.keys if mark else frozenset()
    taken = [row for row in every if row.item.key not in seen]
    keys = frozenset(row.item.key for row in every)
    return taken, Mark(every[0].value, keys, len(every), strict=False)


def _wrapped_query(query: str, kind: str) -> str:
    # Both drivers read `%` as a parameter marker anywhere in the text, comments included.
    return wrapped(query, mysql=kind == "mysql").replace("%", "%%")


def _after(field: str, mark: Mark | None) -> str:
    # Rows without a filter value are never taken: a NULL watermark would restart every
    # poll from the first row.
    if mark is None:
        return f"{field} IS NOT NULL"
    return f"{field} {'>' if mark.strict else '>='} %s"


def _row(values: Sequence[Any], index: int) -> Row:
    data = json.dumps(list(values), default=str)
    value = json.dumps(values[index], default=str)
    digest = hashlib.sha1(data.encode()).hexdigest()[:16]
    return Row(json.loads(value), Item(data=data, key=f"{value}:{digest}"))


def _refused_by_database(kind: str, error: Exception) -> bool:
    """Whether `error` is the database's verdict on the query (a syntax error, a missing
    table or column, no permission), not a failure to answer (a lost connection, a
    timeout)."""
    if kind == "postgresql":
        code = getattr(error, "pgcode", None)
        return isinstance(code, str) and code[:2] not in _PG_NOT_A_VERDICT
    code = error.args[0] if error.args else None
    return isinstance(code, int) and 1000 <= code < 2000 and code not in _MYSQL_TIMEOUTS


def _message(error: Exception) -> str:
    """The first line of a driver's error: PyMySQL's (code, text) as `text (code)`."""
    args = error.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{args[1]} ({args[0]})"
    else:
        text = str(error)
    return (text.strip().splitlines() or [type(error).__name__])[0]


def _column_index(description: Any, field: str) -> int:
    names = [column[0] for column in description or ()]
    for i, name in enumerate(names):
        if name.lower() == field.lower():
            return i
    raise SourceError(
        f"the query returns no column {field!r} (filter_field); it returns " + ", ".join(names)
    )


def _connector(
    conn_string: str, statement_timeout_s: int, read_only: bool = False
) -> tuple[str, Callable[[], Any]]:
    """(database kind, a function opening a connection) for a connection URL. A
    PostgreSQL connection in `read_only` mode refuses writes in every transaction;
    MySQL/MariaDB has no such setting, so the caller starts a read-only transaction."""
    url = conn_string.removeprefix("jdbc:")
    scheme = url.split("://", 1)[0].lower()
    connect_timeout_s = min(POLL_CONNECT_TIMEOUT_S, statement_timeout_s)
    if scheme in ("postgresql", "postgres"):
        options = f"-c statement_timeout={statement_timeout_s * 1000}"
        if read_only:
            options += " -c default_transaction_read_only=on"

        def connect_postgres() -> Any:
            import psycopg2

            conn = psycopg2.connect(
                "postgresql://" + url.split("://", 1)[1],
                connect_timeout=connect_timeout_s,
                options=options,
            )
            conn.autocommit = True
            return conn

        return "postgresql", connect_postgres
    if scheme in ("mysql", "mariadb"):
        parts = urlsplit(url)

        def connect_mysql() -> Any:
            try:
                import pymysql
            except ImportError:
                raise SourceError(
                    "MySQL/MariaDB queues need PyMySQL: pip install 'hippo-mesos[mysql]'"
                ) from None
            return pymysql.connect(
                host=parts.hostname or "localhost",
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                database=parts.path.lstrip("/") or None,
                connect_timeout=connect_timeout_s,
                read_timeout=statement_timeout_s,
                autocommit=True,
            )

        return "mysql", connect_mysql
    raise SourceError(f"unsupported database URL scheme {scheme!r}")

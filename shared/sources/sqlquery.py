"""Rows of a SQL query, taken incrementally on a filter column.

The user's query is wrapped as a subquery: `SELECT * FROM (<query>) AS hippo_rows WHERE
<filter_field> > %s ORDER BY <filter_field> LIMIT %s`. `filter_field` is a checked plain
identifier; the value is always a bound parameter. The watermark is the last filter
value whose rows were all taken, stored with the tasks. PostgreSQL through psycopg2,
MySQL/MariaDB through PyMySQL (the `mysql` extra).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, Field

from hippo.shared.sources.base import BlockingSource, Fetched, Item, PollRequest, SourceError
from hippo.shared.sources.settings import SecretURL, SourceSettings, Text

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
    conn_string: Annotated[SecretURL, Field(title="Database URL"), AfterValidator(_database_url)]
    query: Annotated[Text, Field(title="SELECT returning the rows to run")]
    filter_field: Annotated[
        Text, Field(title="Column the query is incremental on"), AfterValidator(_plain_identifier)
    ]
    filter_val: Annotated[Text, Field(title="Take rows with filter_field above this value")] = ""


class SqlQuerySource(BlockingSource):
    namespace = "sqlquery"
    label = "SQL Query"
    settings_model = SqlQuerySettings

    def fetch_blocking(self, request: PollRequest[SqlQuerySettings]) -> Fetched:
        settings = request.settings
        field = settings.filter_field
        _plain_identifier(field)  # checked at save time too; this is the line that uses it
        start = start_value(request.watermark, field, settings.filter_val)
        kind, connect = _connector(settings.conn_string)
        query = settings.query.strip().rstrip(";").replace("%", "%%")
        wrapped = f"SELECT * FROM ({query}) AS hippo_rows"
        try:
            conn = connect()
        except Exception as e:
            raise SourceError(f"{kind}: cannot connect: {_first_line(e)}") from e
        try:
            with conn.cursor() as cursor:
                # Rows without a filter value are never taken: a NULL watermark would
                # restart every poll from the first row.
                where, args = (
                    (f" WHERE {field} IS NOT NULL", [])
                    if start is None
                    else (f" WHERE {field} > %s", [start])
                )
                cursor.execute(
                    f"{wrapped}{where} ORDER BY {field} LIMIT %s", [*args, request.limit]
                )
                rows = [tuple(row) for row in cursor.fetchall()]
                index = _column_index(cursor.description, field)
                if len(rows) >= request.limit and rows:
                    last = rows[-1][index]
                    kept = [row for row in rows if row[index] != last]
                    if kept:  # rows sharing the last value come whole in the next poll
                        rows = kept
                    else:  # every row shares one value: take all rows with it at once
                        cursor.execute(f"{wrapped} WHERE {field} = %s", [last])
                        rows = [tuple(row) for row in cursor.fetchall()]
        except SourceError:
            raise
        except Exception as e:
            raise SourceError(f"{kind}: query failed: {_first_line(e)}") from e
        finally:
            conn.close()
        if not rows:
            return Fetched(items=[])
        items = []
        for row in rows:
            data = json.dumps(list(row), default=str)
            value = json.dumps(row[index], default=str)
            digest = hashlib.sha1(data.encode()).hexdigest()[:16]
            items.append(Item(data=data, key=f"{value}:{digest}"))
        watermark = {
            "field": field,
            "from": settings.filter_val,
            "value": json.loads(json.dumps(rows[-1][index], default=str)),
        }
        return Fetched(items=items, watermark=watermark)


def start_value(watermark: Any, field: str, filter_val: str) -> Any:
    """Where a poll starts: the stored watermark while the queue's filter settings are the
    ones it was made with; else filter_val ('' = from the first row)."""
    if (
        isinstance(watermark, dict)
        and watermark.get("field") == field
        and watermark.get("from") == filter_val
    ):
        return watermark.get("value")
    return filter_val if filter_val != "" else None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _column_index(description: Any, field: str) -> int:
    names = [column[0] for column in description or ()]
    for i, name in enumerate(names):
        if name.lower() == field.lower():
            return i
    raise SourceError(
        f"the query returns no column {field!r} (filter_field); it returns " + ", ".join(names)
    )


def _connector(conn_string: str) -> tuple[str, Any]:
    """(database kind, a function opening a connection) for a connection URL."""
    url = conn_string.removeprefix("jdbc:")
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):

        def connect_postgres() -> Any:
            import psycopg2

            conn = psycopg2.connect(
                "postgresql://" + url.split("://", 1)[1],
                connect_timeout=10,
                options="-c statement_timeout=60000",
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
                connect_timeout=10,
                read_timeout=60,
                autocommit=True,
            )

        return "mysql", connect_mysql
    raise SourceError(f"unsupported database URL scheme {scheme!r}")

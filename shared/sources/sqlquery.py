"""Rows of a SQL query, taken incrementally on a filter column."""

import re

from hippo.shared.sources.base import Param, Source

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMES = ("postgresql://", "postgres://", "jdbc:postgresql://", "mysql://", "jdbc:mysql://",
            "mariadb://")


def _check_conn_string(value: str) -> None:
    if not value.startswith(_SCHEMES):
        raise ValueError("must be a URL starting with one of " + ", ".join(_SCHEMES))


def _check_identifier(value: str) -> None:
    # The column name is the only user text that reaches SQL, so it must be plain.
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"must be a plain column name (letters, digits, _), got {value!r}")


class SqlQuerySource(Source):
    namespace = "sqlquery"
    label = "SQL Query"
    params = (
        Param("conn_string", secret_url=True, label="Database URL", check=_check_conn_string),
        Param("query", label="SELECT returning the rows to run"),
        Param("filter_field", label="Column the query is incremental on",
              check=_check_identifier),
        Param("filter_val", default="", label="Take rows with filter_field above this value"),
    )

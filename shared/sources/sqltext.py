"""The lexical shape of a user's SQL query, as far as wrapping it needs.

A sqlquery queue runs the user's query as a subquery. What may follow its last token
would break the wrapper: a trailing `;`, or a line comment swallowing the closing
parenthesis. `statement_body` cuts the query after its last token, skipping (never
interpreting) strings, quoted names and comments of the dialect: `-- ...` and
`/* ... */` in both, `# ...` in MySQL (in PostgreSQL `#` is an operator), nested
`/* */` and `$tag$...$tag$` strings in PostgreSQL. Nothing else of SQL is parsed: a
query that is not one SELECT fails in the database, with its message.
"""

from __future__ import annotations

import re

# A PostgreSQL dollar-quote opener, `$$` or `$tag$` (`$1` is a parameter, not a quote).
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def statement_body(query: str, mysql: bool) -> str:
    """`query` up to the end of its last token: without trailing whitespace, comments
    and `;`s. `mysql` picks MySQL/MariaDB's lexical rules, else PostgreSQL's."""
    return query[: _last_token_end(query, mysql)]


def wrapped(query: str, mysql: bool) -> str:
    """The query as a subquery named `hippo_rows`, on lines of its own, so a comment
    left in it ends before the wrapper goes on."""
    return f"SELECT * FROM (\n{statement_body(query, mysql)}\n) AS hippo_rows"


def _last_token_end(text: str, mysql: bool) -> int:
    end = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace() or c == ";":
            i += 1
        elif text.startswith("/*", i):
            i = _block_comment_end(text, i, nested=not mysql)
        elif text.startswith("--", i) and (not mysql or _dash_comment_in_mysql(text, i)):
            i = _line_end(text, i)
        elif c == "#" and mysql:
            i = _line_end(text, i)
        elif c in "'\"" or (c == "`" and mysql):
            i = end = _quoted_end(text, i, backslashes=_backslash_escapes(text, i, mysql))
        elif c == "$" and not mysql and (tag := _dollar_tag(text, i)):
            close = text.find(tag, i + len(tag))
            i = end = n if close < 0 else close + len(tag)
        else:
            i = end = i + 1
    return end


def _dash_comment_in_mysql(text: str, i: int) -> bool:
    # MySQL reads `--` as a comment only before a space or control character: `1--1` is 2.
    return i + 2 >= len(text) or ord(text[i + 2]) <= 32


def _line_end(text: str, i: int) -> int:
    newline = text.find("\n", i)
    return len(text) if newline < 0 else newline + 1


def _block_comment_end(text: str, i: int, nested: bool) -> int:
    depth = 0
    while i < len(text):
        if text.startswith("/*", i):
            depth = depth + 1 if nested or depth == 0 else depth
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(text)  # unterminated: the database says so


def _backslash_escapes(text: str, i: int, mysql: bool) -> bool:
    if mysql:
        return text[i] != "`"  # MySQL strings, '...' and "...", take \' (by default)
    # PostgreSQL: only E'...' strings, and E must not end a longer name.
    return (
        text[i] == "'"
        and i >= 1
        and text[i - 1] in "Ee"
        and (i == 1 or not (text[i - 2].isalnum() or text[i - 2] in "_$"))
    )


def _quoted_end(text: str, i: int, backslashes: bool) -> int:
    quote = text[i]
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and backslashes:
            i += 2
        elif c == quote:
            if not text.startswith(quote, i + 1):
                return i + 1
            i += 2  # a doubled quote stands for itself
        else:
            i += 1
    return len(text)  # unterminated: the database says so


def _dollar_tag(text: str, i: int) -> str:
    if i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_$"):
        return ""  # `$` inside a name (PostgreSQL allows `a$b`)
    match = _DOLLAR_TAG.match(text, i)
    return match.group() if match else ""

"""Bearer-token auth (HIPPO_API_TOKENS), as plain ASGI middleware.

A token prefixed `read:` may only read. Routes that change state on GET
(kill, toggle, enable, disable: kept for old clients) count as writes.
Each answer to a token says what it may do in `X-Hippo-Access: read|write`, so a
client (the web UI) can hide what the token may not do without trying it.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hippo.api.responses import error_response

# Probes and Prometheus scrape without a token; none of them shows a secret.
# The UI's files are static; the page sends the token the user types with each call.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/", "/ui", "/ui/"})
OPEN_PREFIXES = ("/ui/",)
ACCESS_HEADER = b"x-hippo-access"
_WRITE_SUFFIXES = ("/kill", "/toggle", "/enable", "/disable")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_write(method: str, path: str) -> bool:
    return method not in _READ_METHODS or path.rstrip("/").endswith(_WRITE_SUFFIXES)


class TokenAuth:
    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.write_tokens = [t.encode() for t in tokens if not t.startswith("read:")]
        self.read_tokens = [
            t.removeprefix("read:").encode() for t in tokens if t.startswith("read:")
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        given = _bearer(scope)
        can_write = given is not None and _matches(given, self.write_tokens)
        can_read = can_write or (given is not None and _matches(given, self.read_tokens))
        if not can_read:
            response = error_response(
                401, "missing or unknown bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        elif not can_write and is_write(scope["method"], scope["path"]):
            response = error_response(403, "this token may only read")
        else:
            await self.app(scope, receive, _with_access(send, can_write))
            return
        await response(scope, receive, _with_access(send, can_write) if can_read else send)


def _with_access(send: Send, can_write: bool) -> Send:
    """`send` adding X-Hippo-Access to the answer's headers."""
    value = b"write" if can_write else b"read"

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (ACCESS_HEADER, value)]}
        await send(message)

    return sending


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return bytes(token.strip())
    return None


def _matches(given: bytes, tokens: list[Any]) -> bool:
    # Compare with every token, in constant time each, so timing tells nothing.
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found

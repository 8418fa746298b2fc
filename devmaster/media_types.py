"""Content-Type and Accept of a scheduler call, judged as a Mesos master judges them.

`Master::Http::scheduler` (src/master/http.cpp) compares Content-Type to
"application/json" and "application/x-protobuf" exactly, as strings: a parameter
(`; charset=utf-8`) or other capitals get 415. The Accept of SUBSCRIBE and
RECONCILE_OPERATIONS goes through libprocess' `Request::acceptsMediaType`
(3rdparty/libprocess/src/http.cpp): the exact type, then `type/*`, then `*/*`, the
first entry matching decides, and a `q` of 0 refuses. The dev master speaks JSON
only: a protobuf body is refused with 415, an Accept allowing only protobuf with 406,
each saying so (Mesos would take both).
"""

from __future__ import annotations

import re

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"
JSON_ONLY = (
    "The dev master speaks JSON only: send 'Content-Type: application/json'"
    " (a Mesos master also takes application/x-protobuf)"
)
# What boost::lexical_cast<double> takes (stout's numify): a decimal number, inf, nan.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I)


def content_type_refusal(content_type: str | None) -> tuple[int, str] | None:
    """(status, text) refusing the call's Content-Type, or None for application/json."""
    if content_type is None:
        return 400, "Expecting 'Content-Type' to be present"
    if content_type == APPLICATION_JSON:
        return None
    if content_type == APPLICATION_PROTOBUF:
        return 415, JSON_ONLY
    return 415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"


def accept_refusal(accept: str | None) -> tuple[int, str] | None:
    """(406, text) when the Accept header allows no JSON, or None."""
    if accepts_media_type(accept, APPLICATION_JSON):
        return None
    if accepts_media_type(accept, APPLICATION_PROTOBUF):
        return 406, f"{JSON_ONLY}; this request's 'Accept' allows no 'application/json'"
    return (
        406,
        f"Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'",
    )


def accepts_media_type(accept: str | None, media_type: str) -> bool:
    """libprocess' `Request::_acceptsMediaType`; no header accepts everything."""
    if accept is None:
        return True
    header = accept.replace(" ", "").replace("\t", "").replace("\n", "")
    for candidate in (media_type, media_type.split("/")[0] + "/*", "*/*"):
        for entry in header.split(","):
            tokens = [token for token in entry.split(";") if token]
            if not tokens or tokens[0].lower() != candidate.lower():
                continue
            q_values = [
                pair[1]
                for pair in ([p for p in token.split("=") if p] for token in tokens)
                if len(pair) == 2 and pair[0] == "q"
            ]
            if len(q_values) != 1:
                return True  # no q value, or a malformed one
            return _NUMBER.fullmatch(q_values[0]) is not None and float(q_values[0]) > 0
    return False

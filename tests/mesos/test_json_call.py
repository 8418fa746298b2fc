"""The dev master's reading of a call, as pure functions: JSON into a Call as stout's
protobuf.hpp converts it, Accept as libprocess weighs it, FrameworkInfo as
src/master/validation.cpp judges it. No server."""

from __future__ import annotations

import base64
import json
import math
import random
import uuid
from typing import Any

import pytest

from hippo.devmaster import json_call
from hippo.devmaster.call_validation import framework_error, role_error, valid_uuid
from hippo.devmaster.json_call import NotACall, NotJSON, parse_body, stout_b64decode, to_call
from hippo.devmaster.media_types import accepts_media_type
from hippo.devmaster.status_updates import random_uuid

FID = {"value": "f"}


def _call(kind: str, body: Any) -> dict[str, Any]:
    return to_call({"type": kind, "framework_id": FID, kind.lower(): body})


def test_null_is_an_unset_field_at_any_depth() -> None:
    call = to_call(
        {
            "type": "RECONCILE",
            "framework_id": FID,
            "reconcile": {"tasks": [None, {"task_id": {"value": "t"}, "agent_id": None}]},
            "kill": None,
        }
    )
    assert call == {
        "type": "RECONCILE",
        "framework_id": FID,
        "reconcile": {"tasks": [{"task_id": {"value": "t"}}]},
    }


def test_unknown_fields_are_ignored_and_left_out() -> None:
    assert _call("REVIVE", {"roles": ["a"], "role": "x", "future": {"a": [1]}}) == {
        "type": "REVIVE",
        "framework_id": FID,
        "revive": {"roles": ["a"]},
    }


def test_a_repeated_field_takes_a_single_value_and_flattens_nested_lists() -> None:
    assert _call("SUPPRESS", {"roles": "a"})["suppress"] == {"roles": ["a"]}
    decline = _call("DECLINE", {"offer_ids": [[{"value": "o1"}], [[{"value": "o2"}]]]})
    assert decline["decline"]["offer_ids"] == [{"value": "o1"}, {"value": "o2"}]


def test_an_unknown_enum_unsets_an_optional_field_and_refuses_a_required_one() -> None:
    assert to_call({"type": "BOGUS"}) == {}
    subscribe = {
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {"user": "u", "name": "n", "capabilities": [{"type": "NEW"}]}
        },
    }
    assert to_call(subscribe)["subscribe"]["framework_info"]["capabilities"] == [{}]
    resource = {"name": "cpus", "type": "SCALARISH", "scalar": {"value": 1}}
    task = {"name": "t", "task_id": FID, "agent_id": FID, "resources": [resource]}
    accept = {"operations": {"type": "LAUNCH", "launch": {"task_infos": [task]}}}
    with pytest.raises(NotACall, match="Failed to find enum for 'SCALARISH'"):
        _call("ACCEPT", accept)


@pytest.mark.parametrize(
    ("refuse_seconds", "expected"),
    [("7.5", 7.5), ("Infinity", math.inf), (3, 3.0), ("-Infinity", -math.inf)],
)
def test_a_double_takes_numbers_and_number_strings(refuse_seconds: Any, expected: float) -> None:
    decline = _call("DECLINE", {"filters": {"refuse_seconds": refuse_seconds}})
    assert decline["decline"]["filters"]["refuse_seconds"] == expected


@pytest.mark.parametrize(
    ("nanoseconds", "expected"),
    [(5, 5), ("12", 12), (2**63, -(2**63)), (-1, -1), (1.9, 1), (float(2**64), 0)],
)
def test_an_integer_is_cast_to_its_fields_width(nanoseconds: Any, expected: int) -> None:
    kill = {"task_id": FID, "kill_policy": {"grace_period": {"nanoseconds": nanoseconds}}}
    assert _call("KILL", kill)["kill"]["kill_policy"]["grace_period"]["nanoseconds"] == expected


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"roles": 5}, "Not expecting a JSON number for field 'roles'"),
        ({"roles": [True]}, "Not expecting a JSON boolean for field 'roles'"),
        ({"roles": [{}]}, "Not expecting a JSON object for field 'roles'"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused(body: Any, error: str) -> None:
    with pytest.raises(NotACall, match=error):
        _call("REVIVE", body)


def test_the_first_bad_field_in_key_order_is_the_one_named() -> None:
    with pytest.raises(NotACall, match="field 'agent_id'"):
        _call("KILL", {"task_id": 1, "agent_id": 2})


def test_bytes_are_decoded_like_stout_and_kept_canonical() -> None:
    ack = {"agent_id": FID, "task_id": FID, "uuid": "AAEC\nAw"}
    assert _call("ACKNOWLEDGE", ack)["acknowledge"]["uuid"] == "AAECAw=="
    assert stout_b64decode("aGVsbG8=garbage") == b"hello"
    with pytest.raises(NotACall, match="Failed to base64 decode bytes field 'uuid'"):
        _call("ACKNOWLEDGE", {**ack, "uuid": "not-base64"})


def test_missing_required_fields_are_listed_by_path() -> None:
    with pytest.raises(NotACall) as refused:
        to_call({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": 1}}})
    assert str(refused.value) == "Not expecting a JSON number for field 'name'"
    with pytest.raises(NotACall) as missing:
        to_call({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"id": {}}}})
    assert str(missing.value) == (
        "Missing required fields: subscribe.framework_info.user,"
        " subscribe.framework_info.name, subscribe.framework_info.id.value"
    )


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"a": NaN}', b'{"a": Infinity}', b"[1e400]", b"[" * 201 + b"]" * 201],
)
def test_bodies_stout_would_not_parse_are_not_json(body: bytes) -> None:
    with pytest.raises(NotJSON):
        parse_body(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[9223372036854775807]", [2**63 - 1]),
        (b"[9223372036854775808]", [float(2**63)]),  # beyond int64: a double, as picojson
        (b"[18446744073709551615]", [float(2**64 - 1)]),
        (b"[-9223372036854775809]", [-float(2**63)]),
        (b'{"a": "\\ud83d\\ude00", "b": 1.5e300}', {"a": "\U0001f600", "b": 1.5e300}),
    ],
)
def test_numbers_parse_as_picojson_reads_them(body: bytes, expected: Any) -> None:
    value = parse_body(body)
    assert value == expected
    assert [type(v) for v in value] == [type(v) for v in expected]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1e400]", "Value out of range"),
        (b'{"a": NaN}', "syntax error near NaN"),
        (b'["\\ud800"]', "lone surrogate"),
        (b"{} x", "Extra data"),
    ],
)
def test_a_refused_body_is_explained_as_before(body: bytes, error: str) -> None:
    with pytest.raises(NotJSON, match=error):
        parse_body(body)


def test_two_hundred_levels_of_nesting_still_parse() -> None:
    assert parse_body(b"[" * 200 + b"]" * 200) is not None


def test_agents_updates_carry_distinct_version_4_uuids() -> None:
    made = [random_uuid() for _ in range(1000)]  # past one refill of the pool
    assert len(set(made)) == len(made)
    for text in made:
        assert valid_uuid(text)
        made_uuid = uuid.UUID(bytes=base64.b64decode(text))
        assert (made_uuid.version, made_uuid.variant) == (4, uuid.RFC_4122)


def test_uuids_need_sixteen_bytes_and_a_known_version() -> None:
    assert valid_uuid("AAAAAAAAQAAAAAAAAAAAAA==")  # version 4 nibble
    assert not valid_uuid("AAAAAAAAAAAAAAAAAAAAAA==")  # version 0
    assert not valid_uuid("AAAA")


@pytest.mark.parametrize(
    ("accept", "media_type", "accepted"),
    [
        (None, "application/json", True),
        ("application/json", "application/json", True),
        ("application/json;q=0", "application/json", False),
        ("application/json;q=0, */*", "application/json", False),  # the exact type decides
        ("text/html, application/*;q=0.1", "application/json", True),
        ("*/*;q=0", "application/json", False),
        ("application/json;q=nope", "application/json", False),
        ("application/json;q=0.1;q=0", "application/json", True),  # two q: malformed, taken
        ("APPLICATION/JSON", "application/json", True),
        ("", "application/json", False),
        ("application/x-protobuf", "application/json", False),
    ],
)
def test_accept_is_weighed_like_libprocess(
    accept: str | None, media_type: str, accepted: bool
) -> None:
    assert accepts_media_type(accept, media_type) is accepted


@pytest.mark.parametrize(
    ("info", "error"),
    [
        ({"roles": ["a"]}, "'FrameworkInfo.roles' must not be set when the framework is not"),
        ({"capabilities": [{"type": "MULTI_ROLE"}], "role": "a"}, "'FrameworkInfo.role' must"),
        (
            {"capabilities": [{"type": "MULTI_ROLE"}], "roles": ["a", "a"]},
            "'FrameworkInfo.roles' contains duplicate items: { a }",
        ),
        ({"role": "a b"}, "'FrameworkInfo.role' is not a valid role: Role component 'a b'"),
        ({"failover_timeout": 1e10}, "The framework failover_timeout (1e+10) is invalid"),
        ({"failover_timeout": math.inf}, "The framework failover_timeout (inf) is invalid"),
        ({"id": {"value": "a/b"}}, "'a/b' contains invalid characters"),
        ({"role": "other"}, "Roles { other } are not present in the master's --roles"),
    ],
)
def test_framework_infos_mesos_refuses(info: dict[str, Any], error: str) -> None:
    full = {"user": "u", "name": "n", **info}
    assert (framework_error(full, ["hippo"]) or "").startswith(error)


def test_framework_infos_mesos_takes() -> None:
    assert framework_error({"user": "u", "name": "n", "failover_timeout": -5.0}, None) is None
    assert role_error("a/b") is None and role_error("*") is None
    assert role_error("a/*") == "Role 'a/*' cannot include '*' as a component"


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b"[" * 200 + b"]" * 200, False),
        (b"[" * 201 + b"]" * 201, True),
        (b'[{"a": "' + b"[" * 300 + b'"}, ' + b"[]," * 100 + b"[]]", False),  # in a string
        (b'["\\"[[[", ' + b"[" * 199 + b"]" * 199 + b"]", False),  # ... after an escape
        (b'["\\\\", ' + b"[" * 200 + b"]" * 200 + b"]", True),  # an escaped backslash
        (b'[{"": ""}, "\\\\\\"", ' + b"{}," * 201 + b"[]]", False),
        (b'{"a": ' + b'{"b": ' * 199 + b"1" + b"}" * 199 + b"}", False),
        (b'{"a": ' + b'{"b": ' * 200 + b'"]"' + b"}" * 200 + b"}", True),
    ],
)
def test_nesting_is_counted_outside_strings(body: bytes, too_deep: bool) -> None:
    if too_deep:
        with pytest.raises(NotJSON, match="nesting too deep"):
            parse_body(body)
    else:
        assert parse_body(body) == json.loads(body)


def test_the_depth_read_from_bytes_agrees_with_the_parsed_value() -> None:
    rng = random.Random(7)
    strings = ['""', '"s"', '"\\\\"', '"\\"s"']  # "", "s", "\\", "\"s"
    bracketed = ['"["', '"]"', '"\\"{"', '"\\\\]"']  # strings holding brackets

    def string() -> str:
        return rng.choice(bracketed if rng.random() < 0.02 else strings)

    def value(depth: int) -> str:
        if depth <= 0 or rng.random() < 0.2:
            return rng.choice([string(), "1", "null"])
        items = [value(depth - rng.randint(1, 2)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.5:
            return "[" + ",".join(items) + "]"
        return "{" + ",".join(f'"k{i}{string()[1:]}:{v}' for i, v in enumerate(items)) + "}"

    decided = {True: 0, False: 0, None: 0}
    for _ in range(500):
        body = value(rng.randint(1, 12)).encode()
        limit = rng.randint(1, 12)
        within = json_call._depth_within(body, limit)
        decided[within] += 1
        if within is None:
            continue
        try:
            json_call._check_depth(json.loads(body), limit)
            expected = True
        except NotJSON:
            expected = False
        assert within is expected, (body, limit)
    assert min(decided.values()) > 20, decided


def test_bytes_already_as_base64_writes_them_are_kept() -> None:
    for size in range(20):
        text = base64.b64encode(bytes(range(size))).decode()
        ack = {"agent_id": FID, "task_id": FID, "uuid": text}
        assert _call("ACKNOWLEDGE", ack)["acknowledge"]["uuid"] == text
    ack = {"agent_id": FID, "task_id": FID, "uuid": "QR=="}  # bits beyond the byte: dropped
    assert _call("ACKNOWLEDGE", ack)["acknowledge"]["uuid"] == "QQ=="

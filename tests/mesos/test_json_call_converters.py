"""The per-message converters `to_call` uses give what the schema walk `_message` gives
(the reference, in stout's key order): the same Call, or the same refusal. Calls made
from the schema at random, right and wrong types mixed; a fixed seed. No server."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hippo.devmaster import json_call
from hippo.devmaster.json_call import NotACall, to_call
from hippo.devmaster.proto_schema import ANY, ENUMS, MESSAGES, Field

SEED = 20261130
CALLS = 4000
ODD: list[Any] = [
    None, "", "x", "7", "-3.5", "Infinity", "true", " false", "AAEC\nAw", "QR==", "not b64",
    0, 1, -1, 2**31, 2**32, 2**63, -(2**63) - 1, 0.5, 1e300, True, False,
    [], [None], [[]], {}, {"value": "v"}, {"value": None}, {"value": 1}, {"x": 1},
]  # fmt: skip


def _value(rng: random.Random, field: Field, depth: int) -> Any:
    """A value for the field: mostly right, sometimes one of ODD."""
    if rng.random() < 0.08:
        return rng.choice(ODD)
    if field.repeated and rng.random() < 0.85:
        items: list[Any] = [_item(rng, field, depth) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.1:
            items.append(None)
        if rng.random() < 0.1:
            items = [items]  # nested: flattened
        return items
    return _item(rng, field, depth)


def _item(rng: random.Random, field: Field, depth: int) -> Any:
    kind, name = field.kind, field.type
    if kind == "message":
        return _message(rng, name, depth + 1) if depth < 6 else {}
    if kind == "enum":
        return rng.choice([*sorted(ENUMS[name]), "BOGUS"])
    if kind == ANY:
        return {"anything": [1, {"deep": None}]}
    return {
        "string": lambda: rng.choice(["s", "", "ü", "a/b"]),
        "bytes": lambda: rng.choice(["aGk=", "AAAAAAAAQAAAAAAAAAAAAA==", "aGk"]),
        "bool": lambda: rng.choice([True, False, "true"]),
        "double": lambda: rng.choice([1.5, 2, -0.0, "3.25", 1e308]),
    }.get(name, lambda: rng.choice([5, -5, 2**40, 1.9, "12", 2**64 - 1]))()


def _message(rng: random.Random, name: str, depth: int = 0) -> dict[str, Any]:
    fields = list(MESSAGES[name].values())
    chosen = [f for f in fields if f.required and rng.random() < 0.95]
    chosen += rng.sample(fields, rng.randint(0, min(4, len(fields))))
    message = {f.name: _value(rng, f, depth) for f in chosen}
    if rng.random() < 0.1:
        message["unknown_field"] = rng.choice(ODD)
    return message


def _reference(value: dict[str, Any]) -> dict[str, Any]:
    gaps: list[str] = []
    call = json_call._message("Call", value, gaps)
    if gaps:
        missing = json_call._missing("Call", call, "")
        raise NotACall("Missing required fields: " + ", ".join(missing))
    return call


def _typed(value: Any) -> Any:
    """`value` with each leaf's type beside it: 1, 1.0 and True differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def _outcome(convert: Any, value: dict[str, Any]) -> Any:
    try:
        return _typed(convert(value))
    except NotACall as refused:
        return ("refused", str(refused))


def _calls() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    calls = []
    for _ in range(CALLS):
        call = _message(rng, "Call")
        kind = rng.choice(sorted(ENUMS["Call.Type"]))
        call.setdefault("type", kind)
        body = kind.lower()
        field = MESSAGES["Call"].get(body)
        if field is not None and body not in call and field.kind == "message":
            call[body] = _message(rng, field.type)
        calls.append(call)
    return calls


def test_the_converters_give_what_the_schema_walk_gives() -> None:
    outcomes = {"refused": 0, "converted": 0}
    for call in _calls():
        expected = _outcome(_reference, call)
        assert _outcome(to_call, call) == expected, call
        outcomes["refused" if isinstance(expected, tuple) else "converted"] += 1
    # Both kinds are well represented, and the calls are not trivial.
    assert min(outcomes.values()) > CALLS // 5, outcomes


@pytest.mark.parametrize(
    "call",
    [
        {"type": "KILL", "framework_id": {"value": "f"}, "kill": {"task_id": 1, "agent_id": 2}},
        {"type": "ACCEPT", "accept": {"offer_ids": [{"value": 1}], "filters": []}},
        {"type": "DECLINE", "framework_id": [], "decline": {"offer_ids": "x"}},
    ],
)
def test_the_first_bad_field_in_stouts_key_order_is_named_whatever_the_bodys_order(
    call: dict[str, Any],
) -> None:
    reversed_call = {key: call[key] for key in reversed(call)}
    for body in (call, reversed_call):
        assert _outcome(to_call, body) == _outcome(_reference, call)


ACK = {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "AAAAAAAAQAAAAAAAAAAAAA=="}


@pytest.mark.parametrize(
    "ack",
    [
        ACK,
        {**ACK, "extra": 1},
        {**ACK, "uuid": None},
        {**ACK, "uuid": "QR=="},
        {**ACK, "task_id": {"value": "t", "extra": 1}},
        {**ACK, "task_id": {"value": 1}},
        {"agent_id": ACK["agent_id"], "task_id": ACK["task_id"], "data": "x"},
        {"agent_id": ACK["agent_id"], "task_id": ACK["task_id"]},
    ],
)
def test_acknowledgements_of_every_shape_convert_as_the_schema_walk_does(
    ack: dict[str, Any],
) -> None:
    for call in (
        {"type": "ACKNOWLEDGE", "framework_id": {"value": "f"}, "acknowledge": ack},
        {"type": "ACKNOWLEDGE", "framework_id": {"value": "f"}, "acknowledge": ack, "x": 1},
        {"type": "ACKNOWLEDGE", "framework_id": "f", "acknowledge": ack},
    ):
        assert _outcome(to_call, call) == _outcome(_reference, call)

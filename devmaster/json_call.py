"""A request body into a scheduler Call, converted the way a Mesos master converts it.

A master reads a JSON body with stout's JSON parser (3rdparty/stout/include/stout/json.hpp:
picojson, at most 200 levels of nesting, a number beyond a double's range refused with
"Value out of range") and turns it into a `v1::scheduler::Call` with
`protobuf::parse` (3rdparty/stout/include/stout/protobuf.hpp), answering 400
"Failed to parse body into JSON: ..." or "Failed to convert JSON into Call protobuf: ..."
(src/master/http.cpp, `Master::Http::scheduler`). The conversion's rules, kept here:

- `null` is an unset field, in a repeated field's list too; unknown fields are ignored;
- a repeated field takes a list (nested lists are flattened) or a single value;
- an unknown enum name unsets an optional field and refuses a required one
  ("Failed to find enum for 'X'");
- numbers may come as strings, `double` fields take "Infinity"; integers are cast to
  their field's width as C++ casts them; `bytes` are base64, decoded leniently;
- a value of the wrong JSON type is refused ("Not expecting a JSON string for field 'x'"),
  the first such field in key order (stout keeps an object's keys in a std::map);
- then required fields are checked ("Missing required fields: a.b, c[0].d").

The result is the call normalised for the rest of the dev master: only the known
fields of `proto_schema`, every value of its field's type, `bytes` in canonical
base64, so no later code meets a `null` or a string where it expects a number.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from .proto_schema import ANY, ENUMS, MESSAGES, Field

JSON = dict[str, Any]
MAX_DEPTH = 200  # STOUT_JSON_MAX_DEPTH in stout/json.hpp
_INT64 = (-(2**63), 2**63 - 1)
_INT_WIDTHS = {
    "int32": (32, True),
    "uint32": (32, False),
    "int64": (64, True),
    "uint64": (64, False),
}
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {ord(c): i for i, c in enumerate(_B64_ALPHABET)}
_CANONICAL_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# Base64 as b64encode writes it: canonical, and the bits after the last byte zero.
_EXACT_B64 = re.compile(
    r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?"
)
_C_SPACE = frozenset(b" \t\n\v\f\r")
_UNSET = object()
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# 19 digits in a row may be an integer beyond int64, which orjson keeps as an int (up to
# 2**64 - 1) where picojson has a double: such a body takes the stdlib parser's path.
# (Digits made zeros, then a substring search: far cheaper than a regular expression.)
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(set(range(256)) - set(b'"[]{}'))
_LONG_DIGITS = b"0" * 19
# The names of each message's required fields, in the proto's order.
_REQUIRED: dict[str, frozenset[str]] = {
    name: frozenset(f.name for f in fields.values() if f.required)
    for name, fields in MESSAGES.items()
}


class NotJSON(ValueError):
    """The body is not JSON as stout parses it: 400 "Failed to parse body into JSON"."""


class NotACall(ValueError):
    """The JSON is no Call protobuf: 400 "Failed to convert JSON into Call protobuf"."""


def _int_literal(text: str) -> int | float:
    value = int(text)
    if _INT64[0] <= value <= _INT64[1]:
        return value
    return _float_literal(text)  # picojson keeps integers beyond int64 as doubles


def _float_literal(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("Value out of range")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"syntax error near {text}")


def _loads(text: str) -> Any:
    return json.loads(
        text, parse_int=_int_literal, parse_float=_float_literal, parse_constant=_no_constant
    )


def parse_body(body: bytes) -> Any:
    """The body as JSON, or `NotJSON`."""
    value = _fast_loads(body)
    if value is _UNSET:
        try:
            value = _loads(body.decode("utf-8"))
        except RecursionError:
            raise NotJSON("nesting too deep") from None
        except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise NotJSON(str(e)) from None
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:  # else it cannot be too deep
        within = _depth_within(body, MAX_DEPTH)
        if within is None:
            _check_depth(value)
        elif not within:
            raise NotJSON("nesting too deep")
    if _SURROGATE_ESCAPE.search(body):  # else no string can hold a lone surrogate
        _check_surrogates(value)
    return value


def _fast_loads(body: bytes) -> Any:
    """orjson's reading of the body where it equals the stdlib parser's with our hooks
    (about 4 times faster), else `_UNSET`: orjson refuses what the stdlib one would
    refuse, and more (NaN, 1e400, a lone surrogate), so on any refusal the stdlib parser
    decides, with its message; integers of 19 digits or more go to it too."""
    if _LONG_DIGITS in body.translate(_DIGITS_AS_ZEROS):
        return _UNSET
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _UNSET


def to_call(value: Any) -> JSON:
    """The normalised Call, or `NotJSON` / `NotACall`."""
    if not isinstance(value, dict):
        raise NotACall("Expecting a JSON object")
    if _normal_acknowledge(value):
        return value
    gaps: list[str] = []
    try:
        call: JSON = _CONVERTERS["Call"](value, gaps)
    except NotACall as refused:
        # The fast walk meets fields in the body's order: the schema walk, in stout's
        # key order, names the same bad field stout would.
        _message("Call", value, [])
        raise refused  # (unreachable: both walks refuse the same fields)
    if gaps:
        missing = _missing("Call", call, "")
        raise NotACall("Missing required fields: " + ", ".join(missing))
    return call


def _normal_acknowledge(call: JSON) -> bool:
    """Whether the call is an ACKNOWLEDGE already normal (`_NORMAL`), in one step: the
    call made most, twice per task, and the smallest."""
    if len(call) != 3 or call.get("type") != "ACKNOWLEDGE":
        return False
    framework_id, ack = call.get("framework_id"), call.get("acknowledge")
    if type(ack) is not dict or len(ack) != 3 or not _is_id(framework_id):
        return False
    uuid = ack.get("uuid")
    return (
        _is_id(ack.get("agent_id"))
        and _is_id(ack.get("task_id"))
        and type(uuid) is str
        and _EXACT_B64.fullmatch(uuid) is not None
    )


def _is_id(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and type(value.get("value")) is str


def _message(name: str, obj: JSON, gaps: list[str]) -> JSON:
    """The message's known fields converted (stout's key order decides which wrong type
    is reported); a message lacking a required field is appended to `gaps`. The
    reference the converters of `_CONVERTERS` follow, and the one naming an error."""
    fields = MESSAGES[name]
    out: JSON = {}
    for key in sorted(obj) if len(obj) > 1 else obj:
        field = fields.get(key)
        if field is None:  # an unknown field is ignored
            continue
        value = obj[key]
        if value is None:
            continue  # "We treat 'null' as an unset field" (protobuf.hpp)
        converted = _field_value(field, value, gaps)
        if converted is not _UNSET:
            out[key] = converted
    if not out.keys() >= _REQUIRED[name]:
        gaps.append(name)
    return out


def _field_value(field: Field, value: Any, gaps: list[str]) -> Any:
    """A field's value (not null) converted, or `_UNSET` when it leaves the field unset."""
    if isinstance(value, list):
        if not field.repeated:
            raise NotACall(f"Not expecting a JSON array for field '{field.name}'")
        items = [
            converted
            for item in (_flatten(value) if list in map(type, value) else value)
            if item is not None and (converted := _convert(field, item, gaps)) is not _UNSET
        ]
        return items if items else _UNSET
    converted = _convert(field, value, gaps)
    if converted is _UNSET or not field.repeated:
        return converted
    return [converted]


# --- Converters made per message type from the schema: the same results as `_message`
# (a differential test holds them to it) in a sixth of its time. A message already
# normal (`_NORMAL`: known fields only, each set and of its type, required ones there)
# is taken whole, as most calls are. In another, each value already of its field's type
# (a string for a string, a float for a double...) is taken as it is, any other goes to
# `_field_value` / `_convert`, which convert it or refuse it. An error is then named by
# `_message` (see `to_call`). The output keeps the body's key order, not stout's:
# nothing reads a Call's key order.

Converter = Callable[[Any, list[str]], Any]
_CONVERTERS: dict[str, Converter] = {}


def _message_converter(name: str) -> Converter:
    fields = MESSAGES[name]
    handlers = {key: _field_converter(field) for key, field in fields.items()}
    required = _REQUIRED[name]
    unset = _UNSET

    normal_checks = _NORMAL  # filled for every message before any call

    def convert(obj: JSON, gaps: list[str]) -> JSON:
        if normal_checks[name](obj):
            return obj
        out: JSON = {}
        for key, value in obj.items():
            if value is not None and (handler := handlers.get(key)) is not None:
                converted = handler(value, gaps)
                if converted is not unset:
                    out[key] = converted
        if required and not out.keys() >= required:
            gaps.append(name)
        return out

    return convert


Check = Callable[[Any], bool]
_NORMAL: dict[str, Check] = {}


def _normal_check(name: str) -> Check:
    """Whether a message is already as its converter would make it: every field known,
    set, and of its type, every required one there. Then it is taken whole, no copy
    made (most calls are; the others are converted)."""
    fields = MESSAGES[name]
    exact_types = {key: _EXACT_TYPES[f.type] for key, f in fields.items() if _simple(f)}
    checks: dict[str, Check] = {}  # the others': filled once every message has its check
    _FIELD_CHECKS[name] = checks
    required = _REQUIRED[name]

    def normal(obj: Any) -> bool:
        if type(obj) is not dict:
            return False
        for key, value in obj.items():
            exact = exact_types.get(key)
            if exact is not None:
                if type(value) is not exact:
                    return False
            elif (check := checks.get(key)) is None or not check(value):
                return False
        return not required or obj.keys() >= required

    return normal


_FIELD_CHECKS: dict[str, dict[str, Check]] = {}


_EXACT_TYPES = {"string": str, "double": float, ANY: dict}


def _int_range(type_name: str) -> tuple[int, int]:
    """The lowest and highest value of an integer type of _INT_WIDTHS."""
    bits, signed = _INT_WIDTHS[type_name]
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _simple(field: Field) -> bool:
    return not field.repeated and field.type in _EXACT_TYPES


def _value_check(field: Field) -> Check:
    """Whether a value of the field is already normal (a repeated field's: a list of such)."""
    kind, type_name = field.kind, field.type
    check: Check
    if type_name == "ID":
        check = _is_id
    elif kind == "message":
        check = _NORMAL[type_name]  # (which checks that the value is an object)
    elif kind == "enum":
        names = ENUMS[type_name]

        def check(value: Any) -> bool:
            return type(value) is str and value in names

    elif type_name in _INT_WIDTHS:
        low, high = _int_range(type_name)

        def check(value: Any) -> bool:
            return type(value) is int and low <= value <= high

    elif type_name == "bool":

        def check(value: Any) -> bool:
            return value is True or value is False

    elif type_name == "bytes":

        def check(value: Any) -> bool:
            return type(value) is str and _EXACT_B64.fullmatch(value) is not None

    else:
        exact = _EXACT_TYPES[type_name]

        def check(value: Any) -> bool:
            return type(value) is exact

    if not field.repeated:
        return check
    item_check = check

    def repeated(value: Any) -> bool:
        if type(value) is not list or not value:
            return False  # one value becomes a list; an empty list, unset
        for item in value:
            if not item_check(item):
                return False
        return True

    return repeated


def _field_converter(field: Field) -> Converter:
    """A converter of the field's (non-null) value."""
    if not field.repeated:
        return _value_converter(field, functools.partial(_field_value, field))
    item_converter = _value_converter(field, functools.partial(_convert, field))
    unset = _UNSET

    def repeated(value: Any, gaps: list[str]) -> Any:
        if type(value) is not list or list in map(type, value):  # one value, or nested lists
            return _field_value(field, value, gaps)
        items = [
            converted
            for item in value
            if item is not None and (converted := item_converter(item, gaps)) is not unset
        ]
        return items if items else unset

    return repeated


def _value_converter(field: Field, other: Converter) -> Converter:
    """A converter of one value of the field's type, handing any other to `other`."""
    kind, type_name = field.kind, field.type
    if kind == "message":
        converters = _CONVERTERS  # filled for every message before any call

        if type_name == "ID":

            def identifier(value: Any, gaps: list[str]) -> Any:
                if _is_id(value):
                    return value  # the most common message, already normal
                if type(value) is dict:
                    return converters["ID"](value, gaps)
                return other(value, gaps)

            return identifier

        def message(value: Any, gaps: list[str]) -> Any:
            if type(value) is dict:
                return converters[type_name](value, gaps)
            return other(value, gaps)

        return message
    if kind == "enum":
        names = ENUMS[type_name]

        def enum(value: Any, gaps: list[str]) -> Any:
            return value if type(value) is str and value in names else other(value, gaps)

        return enum
    if type_name in _INT_WIDTHS:
        low, high = _int_range(type_name)

        def integer(value: Any, gaps: list[str]) -> Any:
            if type(value) is int and low <= value <= high:
                return value
            return other(value, gaps)

        return integer
    if type_name == "bool":

        def boolean(value: Any, gaps: list[str]) -> Any:
            return value if value is True or value is False else other(value, gaps)

        return boolean
    exact = _EXACT_TYPES.get(type_name)
    if exact is not None:

        def same_type(value: Any, gaps: list[str]) -> Any:
            return value if type(value) is exact else other(value, gaps)

        return same_type
    return other  # bytes: always decoded and encoded again


def _depth_within(body: bytes, limit: int) -> bool | None:
    """Whether the brackets of a body that parsed nest `limit` deep at most, read from its
    bytes (a fifth of `_check_depth`'s time on a 1,000-task ACCEPT); None when a string
    holds a bracket, which only the parsed value tells apart from structure. Escapes
    gone first (pairs of backslashes, then escaped quotes), only quotes and brackets are
    kept, each bracket as a parenthesis; empty strings go; then each pass removes the
    innermost pairs, one level."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = body.translate(_PARENS, _NOT_BRACKETS).replace(b'""', b"")
    if b'"' in text:  # a quote left: some string holds a bracket
        return None
    for _ in range(limit):
        text = text.replace(b"()", b"")
        if not text:
            return True
    return False


def _check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse what picojson would not parse: a level at a time, so deep values cost no
    stack and wide ones (a 10,000-task ACCEPT) little more than a list's copy."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            raise NotJSON("nesting too deep")
        children: list[Any] = []
        for item in level:
            children.extend(item.values() if isinstance(item, dict) else item)
        level = [child for child in children if isinstance(child, (dict, list))]
        depth += 1


def _flatten(items: list[Any]) -> list[Any]:
    """A repeated field's values: stout parses a list inside the list into the same field."""
    flat: list[Any] = []
    pending = list(reversed(items))
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
        else:
            flat.append(item)
    return flat


def _convert(field: Field, value: Any, gaps: list[str]) -> Any:
    kind = field.kind
    if isinstance(value, str):
        if kind == "scalar" and field.type == "string":
            return value
        return _from_string(field, value)
    if isinstance(value, dict):
        if kind == "message":
            if field.type == "ID" and len(value) == 1 and isinstance(value.get("value"), str):
                return {"value": value["value"]}  # the most common message, in short
            return _message(field.type, value, gaps)
        if kind == ANY:
            return value
        raise NotACall(f"Not expecting a JSON object for field '{field.name}'")
    if isinstance(value, bool):
        if field.type == "bool":
            return value
        raise NotACall(f"Not expecting a JSON boolean for field '{field.name}'")
    return _from_number(field, value)


def _from_string(field: Field, text: str) -> Any:
    kind = field.type if field.kind == "scalar" else field.kind
    if kind == "string":
        return text
    if kind == "bytes":
        if _EXACT_B64.fullmatch(text):
            return text  # what decoding and encoding it again would give
        try:
            return base64.b64encode(stout_b64decode(text)).decode()
        except ValueError as e:
            raise NotACall(f"Failed to base64 decode bytes field '{field.name}': {e}") from None
    if kind == "enum":
        if text in ENUMS[field.type]:
            return text
        if field.required:
            raise NotACall(f"Failed to find enum for '{text}'")
        return _UNSET  # proto2 drops an unknown value of an optional enum
    if kind == "double" and text in ("Infinity", "-Infinity"):
        return math.inf if text == "Infinity" else -math.inf
    if kind == "bool":
        if text.strip() in ("true", "false"):
            return text.strip() == "true"
        raise NotACall(f"Failed to parse '{text}' as a JSON boolean for field '{field.name}'")
    if kind in ("double", *_INT_WIDTHS):
        try:
            number = _loads(text)
        except (ValueError, RecursionError):
            number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise NotACall(f"Failed to parse '{text}' as a JSON number for field '{field.name}'")
        return _from_number(field, number)
    raise NotACall(f"Not expecting a JSON string for field '{field.name}'")


def _check_surrogates(value: Any) -> None:
    """Refuse a lone surrogate (a \\ud800 escape not in a pair), as picojson does."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotJSON("invalid unicode escape (a lone surrogate)") from None


def _from_number(field: Field, number: int | float) -> Any:
    if field.type == "double":
        return float(number)
    width = _INT_WIDTHS.get(field.type)
    if width is None:
        raise NotACall(f"Not expecting a JSON number for field '{field.name}'")
    return cast_int(number, *width)


def cast_int(number: int | float, bits: int, signed: bool) -> int:
    """`static_cast` of a JSON number to a C++ integer of `bits` (two's complement wrap;
    a non-finite double, undefined behaviour in C++, becomes 0)."""
    value = int(number) if math.isfinite(number) else 0
    value &= (1 << bits) - 1
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def stout_b64decode(text: str) -> bytes:
    """stout's lenient base64 (3rdparty/stout/include/stout/base64.hpp): it stops at the
    first '=', skips whitespace and decodes a short last group; another character is an
    error ("Invalid character 'x'")."""
    if _CANONICAL_B64.fullmatch(text):
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            pass
    out = bytearray()
    group: list[int] = []
    for char in text:
        code = ord(char)
        if char == "=":
            break
        if code in _C_SPACE:
            continue
        if code not in _B64_INDEX:
            raise ValueError(f"Invalid character '{char}'")
        group.append(_B64_INDEX[code])
        if len(group) == 4:
            out += _decode_group(group, 3)
            group = []
    if group:
        out += _decode_group(group + [0] * (4 - len(group)), len(group) - 1)
    return bytes(out)


def _decode_group(group: list[int], keep: int) -> bytes:
    a, b, c, d = group
    return bytes([(a << 2 | b >> 4) & 0xFF, (b << 4 | c >> 2) & 0xFF, (c << 6 | d) & 0xFF][:keep])


def _missing(name: str, message: JSON, prefix: str) -> list[str]:
    """Unset required fields by path, as protobuf's InitializationErrorString lists them."""
    fields = MESSAGES[name].values()
    errors = [prefix + f.name for f in fields if f.required and f.name not in message]
    for field in fields:
        if field.kind != "message" or field.name not in message:
            continue
        if field.repeated:
            for i, item in enumerate(message[field.name]):
                errors += _missing(field.type, item, f"{prefix}{field.name}[{i}].")
        else:
            errors += _missing(field.type, message[field.name], f"{prefix}{field.name}.")
    return errors


_NORMAL.update({name: _normal_check(name) for name in MESSAGES})
for _name, _checks in _FIELD_CHECKS.items():
    _checks.update({key: _value_check(f) for key, f in MESSAGES[_name].items() if not _simple(f)})
_CONVERTERS.update({name: _message_converter(name) for name in MESSAGES})

"""What makes a parsed Call a 400, and a FrameworkInfo unacceptable, as a master decides.

`call_error` is src/master/validation.cpp's `scheduler::call::validate`: the master
answers its message as 400 "Failed to validate scheduler::Call: <message>"
(src/master/http.cpp). `framework_error` is src/master/master.cpp's
`Master::validateFramework` (with `validation::framework::validate`): a SUBSCRIBE it
refuses gets its message as an ERROR event on the new stream, an UPDATE_FRAMEWORK a 400.
Both take the call as `json_call.to_call` normalised it.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Collection
from typing import Any

from .model import JSON

VALIDATION_PREFIX = "Failed to validate scheduler::Call: "

# The body each call type must carry (None: none needed), from validate's switch.
BODIES: dict[str, str | None] = {
    "UNKNOWN": None,
    "TEARDOWN": None,
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "REVIVE": None,
    "SUPPRESS": None,
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "MESSAGE": "message",
    "REQUEST": "request",
    "UPDATE_FRAMEWORK": "update_framework",
}
NAME_MAX = 255  # bytes in an ID (common::validation::validateID)
_ROLE_INVALID_CHARACTERS = frozenset("\b\f\n\r\t\v ")  # src/common/roles.cpp
_INT64_MAX = 2**63 - 1
_INVALID_ID_CHARACTERS = re.compile(r"[\x00-\x1f\x7f/\\]")  # control characters, slashes


class CallRefused(Exception):
    """A call the master answers with an HTTP error."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _value(identifier: Any) -> str:
    return identifier.get("value", "") if isinstance(identifier, dict) else ""


def call_error(call: JSON, principal: str | None = None) -> str | None:
    """The validation message (without `VALIDATION_PREFIX`) for a call, or None."""
    kind = call.get("type")
    if kind is None:
        return "Expecting 'type' to be present"
    if kind == "SUBSCRIBE":
        if "subscribe" not in call:
            return "Expecting 'subscribe' to be present"
        info = call["subscribe"]["framework_info"]
        if _value(info.get("id")) != _value(call.get("framework_id")):
            return "'framework_id' differs from 'subscribe.framework_info.id'"
        claimed = info.get("principal")
        if principal is not None and claimed is not None and claimed != principal:
            return (
                f"Authenticated principal '{principal}' does not match principal"
                f" '{claimed}' set in `FrameworkInfo`"
            )
        return None
    if "framework_id" not in call:
        return "Expecting 'framework_id' to be present"
    body = BODIES[kind]
    if body is not None and body not in call:
        return f"Expecting '{body}' to be present"
    if kind in ("ACKNOWLEDGE", "ACKNOWLEDGE_OPERATION_STATUS") and not valid_uuid(
        call[body or ""]["uuid"]
    ):
        return "Not a valid UUID"
    if kind == "ACKNOWLEDGE_OPERATION_STATUS" and "agent_id" not in call[body or ""]:
        return "Expecting 'agent_id' to be present"
    if kind == "UPDATE_FRAMEWORK" and _value(call["framework_id"]) != _value(
        call["update_framework"]["framework_info"].get("id")
    ):
        return "'framework_id' differs from 'update_framework.framework_info.id'"
    return None


def valid_uuid(text: str) -> bool:
    """A canonical base64 `bytes` value holding a UUID as stout's `UUID::fromBytes`
    takes it: 16 bytes with a known version (1 to 5) in the version nibble."""
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)  # b64decode(validate=True), faster
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 16 and 1 <= raw[6] >> 4 <= 5


def id_error(value: str) -> str | None:
    """common::validation::validateID (src/common/validation.cpp)."""
    if not value:
        return "ID must not be empty"
    if len(value) > NAME_MAX // 4 and len(value.encode()) > NAME_MAX:  # (4 bytes a character)
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if _INVALID_ID_CHARACTERS.search(value):
        return f"'{value}' contains invalid characters"
    return None


def role_error(role: str) -> str | None:
    """roles::validate (src/common/roles.cpp)."""
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    components = [c for c in role.split("/") if c]
    if not components:
        return "Role names cannot be the empty string"
    for component in components:
        if component in (".", "..", "*"):
            return f"Role '{role}' cannot include '{component}' as a component"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if _ROLE_INVALID_CHARACTERS & set(component):
            return (
                f"Role component '{component}' is invalid"
                " because it contains backspace or whitespace"
            )
    return None


def stringify_set(items: Collection[str]) -> str:
    """stout's stringify of a std::set: `{ a, b }`."""
    return "{ " + ", ".join(sorted(items)) + " }"


def framework_roles(info: JSON) -> list[str]:
    """The roles a FrameworkInfo asks for (protobuf::framework::getRoles)."""
    if "MULTI_ROLE" in capability_types(info):
        return list(info.get("roles", []))
    return [info.get("role", "*")]


def capability_types(info: JSON) -> set[str]:
    return {c["type"] for c in info.get("capabilities", []) if "type" in c}


def framework_error(info: JSON, allowed_roles: Collection[str] | None) -> str | None:
    """Why a master refuses this FrameworkInfo, or None (`allowed_roles`: --roles)."""
    multi_role = "MULTI_ROLE" in capability_types(info)
    if multi_role and "role" in info:
        return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    if not multi_role and info.get("roles"):
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    roles = framework_roles(info)
    if multi_role:
        duplicates = {role for role in roles if roles.count(role) > 1}
        if duplicates:
            return f"'FrameworkInfo.roles' contains duplicate items: {stringify_set(duplicates)}"
    for role in roles:
        error = role_error(role)
        if error:
            which = "roles' contains invalid role" if multi_role else "role' is not a valid role"
            return f"'FrameworkInfo.{which}: {error}"
    framework_id = _value(info.get("id"))
    if framework_id:
        error = id_error(framework_id)
        if error:
            return error
    timeout = info.get("failover_timeout", 0.0)
    if not abs(timeout) * 1e9 <= _INT64_MAX:  # Duration::create; also refuses inf
        return f"The framework failover_timeout ({timeout:g}) is invalid"
    if allowed_roles is not None:
        refused = {role for role in roles if role != "*" and role not in allowed_roles}
        if refused:
            return f"Roles {stringify_set(refused)} are not present in the master's --roles"
    return None

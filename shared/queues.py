"""Queue documents between the API's JSON and the store's fields.

Secret source settings are encrypted before they are stored (`seal_queue`), shown
masked (`queue_document`), and only decrypted for the poller that needs them
(`reveal=True`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic_core

from hippo.shared.deadletter_targets import FIELD as TARGET_FIELD
from hippo.shared.deadletter_targets import TARGET_MODELS
from hippo.shared.errors import FieldError, ValidationFailed
from hippo.shared.model import QueueDefinition
from hippo.shared.secrets import MASK, SecretBox
from hippo.shared.sources.base import Source
from hippo.shared.sources.settings import SecretKind

_POLL_FIELDS = {
    "last_run_tstamp": float,
    "last_error": str,
    "last_error_tstamp": float,
    "items_taken": int,
    "tasks_created": int,
}
_POLL_DEFAULTS = {"last_run_tstamp": 0, "items_taken": 0, "tasks_created": 0}


def seal_queue(
    definition: QueueDefinition,
    settings: dict[str, Any],
    source: type[Source],
    box: SecretBox,
    stored: dict[str, bytes] | None = None,
) -> tuple[bytes, str]:
    """(spec JSON, status) to store. Secrets sent back masked keep the stored value."""
    stored_settings = _stored_settings(stored, source.namespace)
    secrets = source.settings_model.secret_fields()
    sealed = {}
    bad = []
    for name in source.settings_model.model_fields:
        value = settings[name]
        kind = secrets.get(name)
        if kind is not None and value not in ("", None):
            previous = stored_settings.get(name)
            if previous not in ("", None):
                value = kind.keep_stored(value, box.decrypt(previous))
            if MASK in str(value):
                bad.append(
                    FieldError(
                        f"queue.{source.namespace}.{name}",
                        f"{MASK} keeps a stored secret, and there is none: send the secret itself",
                    )
                )
                continue
            value = box.encrypt(value)
        sealed[name] = value
    spec = definition.model_dump(mode="json", exclude={"id"}, exclude_none=True)
    stored_secret = pydantic_core.from_json(stored["spec"]).get(CALLBACK_SECRET) if stored else None
    sealed_secret = None
    try:
        sealed_secret = seal_callback_secret(definition.callback_secret, stored_secret, box)
    except ValidationFailed as e:
        bad += e.errors
    target = spec["queue"].get(TARGET_FIELD)
    if isinstance(target, dict):
        stored_target = (
            pydantic_core.from_json(stored["spec"])["queue"].get(TARGET_FIELD) if stored else None
        )
        bad += _seal_target(target, stored_target, box)
    if bad:
        raise ValidationFailed(bad)
    if sealed_secret is not None:
        spec[CALLBACK_SECRET] = sealed_secret
    status = spec["queue"].pop("status")
    spec["queue"][source.namespace] = sealed
    return pydantic_core.to_json(spec), status


CALLBACK_SECRET = "callback_secret"


def seal_callback_secret(sent: str | None, stored: str | None, box: SecretBox) -> str | None:
    """The callback secret to store, encrypted: the one sent, or the stored one when it
    was sent back masked (ValidationFailed when there is none to keep)."""
    if sent is None:
        return None
    if sent == MASK:
        if not stored:
            raise ValidationFailed(
                [FieldError(CALLBACK_SECRET, f"{MASK} keeps a stored secret, and there is none")]
            )
        return stored
    return box.encrypt(sent)


def _target_secrets(target: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A deadletter_target block's settings and the names of its non-empty secrets."""
    kind = target.get("type")
    settings = target.get(kind) if isinstance(kind, str) else None
    if kind not in TARGET_MODELS or not isinstance(settings, dict):
        return {}, []
    names = [n for n in TARGET_MODELS[kind].secret_fields() if settings.get(n) not in ("", None)]
    return settings, names


def _seal_target(
    target: dict[str, Any], stored: dict[str, Any] | None, box: SecretBox
) -> list[FieldError]:
    """Encrypt a deadletter_target block's secrets in place (a masked one keeps the stored
    secret of the same type); the errors of masks with nothing to keep."""
    settings, names = _target_secrets(target)
    previous: dict[str, Any] = {}
    if isinstance(stored, dict) and stored.get("type") == target.get("type"):
        previous, _ = _target_secrets(stored)
    bad = []
    for name in names:
        value = settings[name]
        if value == MASK:
            if previous.get(name) in ("", None):
                path = f"queue.{TARGET_FIELD}.{target['type']}.{name}"
                bad.append(FieldError(path, f"{MASK} keeps a stored secret, and there is none"))
                continue
            settings[name] = previous[name]
        else:
            settings[name] = box.encrypt(value)
    return bad


def _stored_settings(stored: dict[str, bytes] | None, namespace: str) -> dict[str, Any]:
    if not stored:
        return {}
    block = pydantic_core.from_json(stored["spec"])["queue"]
    settings = block.get(namespace)
    return settings if isinstance(settings, dict) else {}


def _stored_secrets(
    block: dict[str, Any], sources: Mapping[str, type[Source]]
) -> tuple[dict[str, Any], list[tuple[str, Any, SecretKind | None]]]:
    """A stored `queue` block's settings, and (name, value, kind) of each non-empty secret
    among them. A type no longer enabled (or a parameter it no longer declares) has no
    declarations: its encrypted values still count as secret, of no known kind."""
    source = sources.get(block["type"])
    declared = source.settings_model.model_fields if source else {}
    kinds = source.settings_model.secret_fields() if source else {}
    settings: dict[str, Any] = block.get(block["type"], {})
    secrets = []
    for name, value in settings.items():
        is_secret = name in kinds if name in declared else str(value).startswith("enc:")
        if is_secret and value not in ("", None):
            secrets.append((name, value, kinds.get(name)))
    return settings, secrets


def queue_document(
    queue_id: str,
    stored: dict[str, bytes],
    sources: Mapping[str, type[Source]],
    box: SecretBox,
    *,
    reveal: bool = False,
) -> dict[str, Any]:
    """The queue as the API shows it (secrets masked), or with secrets decrypted."""
    doc = pydantic_core.from_json(stored["spec"])
    block = doc["queue"]
    settings, secrets = _stored_secrets(block, sources)
    for name, value, kind in secrets:
        if reveal:
            settings[name] = box.decrypt(value)
        elif kind is SecretKind.URL_PASSWORD:
            # Only the password is secret: the rest says which database the queue reads.
            settings[name] = kind.masked(box.decrypt(value))
        else:
            settings[name] = MASK
    if doc.get(CALLBACK_SECRET):
        doc[CALLBACK_SECRET] = box.decrypt(doc[CALLBACK_SECRET]) if reveal else MASK
    if isinstance(block.get(TARGET_FIELD), dict):
        target_settings, names = _target_secrets(block[TARGET_FIELD])
        for name in names:
            value = target_settings[name]
            target_settings[name] = box.decrypt(value) if reveal else MASK
    block["status"] = stored["status"].decode()
    for name, cast in _POLL_FIELDS.items():
        raw = stored.get(name)
        block[name] = cast(raw.decode()) if raw is not None else _POLL_DEFAULTS.get(name)
    return {"id": queue_id, **doc}


def reseal_queue(
    stored: dict[str, bytes], sources: Mapping[str, type[Source]], box: SecretBox
) -> tuple[bytes, str]:
    """(spec, status) of a stored queue with its secrets encrypted by the newest key."""
    spec = pydantic_core.from_json(stored["spec"])
    settings, secrets = _stored_secrets(spec["queue"], sources)
    for name, value, _ in secrets:
        settings[name] = box.rotate(value)
    if spec.get(CALLBACK_SECRET):
        spec[CALLBACK_SECRET] = box.rotate(spec[CALLBACK_SECRET])
    if isinstance(spec["queue"].get(TARGET_FIELD), dict):
        target_settings, names = _target_secrets(spec["queue"][TARGET_FIELD])
        for name in names:
            target_settings[name] = box.rotate(target_settings[name])
    return pydantic_core.to_json(spec), stored["status"].decode()

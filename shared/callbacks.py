"""Callbacks: a JSON POST to a task's (or its queue's) `callback_url` when a run ends.

The pure part, shared by the sender (worker/callbacks.py) and the docs' promise to a
receiver: how a body is signed, which headers carry the signature and the delivery id,
and how long to wait before sending again.

A receiver checks `X-Hippo-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body
under the callback secret (only sent when a secret is set), and dedupes on
`X-Hippo-Delivery` (also the body's `delivery_id`): the run's mesos_id, the same on every
attempt of one callback, since a callback may arrive more than once (at-least-once).
"""

from __future__ import annotations

import hashlib
import hmac

from hippo.shared.tunables import CALLBACK_RETRY_FIRST_S, CALLBACK_RETRY_MAX_S

SIGNATURE_HEADER = "X-Hippo-Signature"
DELIVERY_HEADER = "X-Hippo-Delivery"
EVENT = "task.ended"


def signature(secret: str, body: bytes) -> str:
    """The X-Hippo-Signature value of `body` under `secret`: `sha256=<hex digest>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(delivery_id: str, secret: str, body: bytes) -> dict[str, str]:
    """Every header of a callback POST (the signature only when there is a secret)."""
    found = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id}
    if secret:
        found[SIGNATURE_HEADER] = signature(secret, body)
    return found


def retry_in_s(attempts: int, max_attempts: int) -> float | None:
    """After the `attempts`-th failed send (1 for the first): seconds until the next,
    doubling from CALLBACK_RETRY_FIRST_S up to CALLBACK_RETRY_MAX_S; None once
    `max_attempts` sends failed (the callback is given up)."""
    if attempts >= max_attempts:
        return None
    factor: int = 2 ** min(max(attempts - 1, 0), 30)
    return float(min(CALLBACK_RETRY_MAX_S, CALLBACK_RETRY_FIRST_S * factor))


def delivered(status_code: int) -> bool:
    """A 2xx answer delivers; anything else (3xx included: never followed) fails."""
    return 200 <= status_code < 300

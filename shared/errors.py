"""Hippo's exceptions: a short tree, so callers catch what they can handle.

    HippoError                    500  base of every error Hippo raises on purpose
    ├── SettingsError             500  a HIPPO_* variable is missing or bad
    ├── SecretError               500  a stored secret matches no key
    ├── StoreUnavailable          503  Redis cannot be reached (or takes no writes)
    ├── StaleEpoch                500  a newer leader exists: this one must step down
    ├── NotFound                  404  no queue or task has that id
    ├── Conflict                  409  the request clashes with the current state
    ├── ValidationFailed          422  a document failed validation (every bad field)
    └── BadBody                   400  the request body is not a JSON document
        ├── BodyTooLarge          413
        └── UnsupportedMediaType  415

Each class carries the HTTP status the API answers it with, so the API registers one
handler for HippoError and never branches on the type. Third-party errors (redis,
httpx, boto3, drivers) are translated into this tree where they are called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    """One bad field of a request body: its dotted path and what is wrong."""

    field: str
    message: str


class HippoError(Exception):
    """Base of every error Hippo raises on purpose."""

    http_status: ClassVar[int] = 500
    # The API's answer when the message is meant for the operator's log, not the client.
    public_message: ClassVar[str | None] = None

    @property
    def field_errors(self) -> list[FieldError]:
        """The bad fields, for the `errors` list of the API's answer."""
        return []


class SettingsError(HippoError):
    """A HIPPO_* variable is missing or has a bad value; the message names it."""


class SecretError(HippoError):
    """A stored secret cannot be decrypted with any configured key."""


class StoreUnavailable(HippoError):
    """Redis cannot be reached, or takes no writes (a replica, still loading); the
    operation did nothing."""

    http_status = 503
    # The redis-py message names hosts and sockets: useful in a log, noise to a client.
    public_message = "storage is unavailable, try again shortly"


class StaleEpoch(HippoError):
    """A newer leader took an epoch: a fenced write was refused, and the leader that
    tried it must stop acting as leader."""


class NotFound(HippoError):
    """No queue or task has that id."""

    http_status = 404


class MesosUnreachable(HippoError):
    """A Mesos master or agent the API asked (for a task's sandbox files) did not
    answer, or answered with an error; the message names which and why."""

    http_status = 502


class Conflict(HippoError):
    """The request clashes with the current state (an existing id, a running task...)."""

    http_status = 409


class ValidationFailed(HippoError):
    """A document failed validation; `errors` lists every bad field at once."""

    http_status = 422
    public_message = "invalid request"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @property
    def field_errors(self) -> list[FieldError]:
        return self.errors


class BadBody(HippoError):
    """The request body cannot be read as JSON (empty, or bad syntax)."""

    http_status = 400


class BodyTooLarge(BadBody):
    """The request body is over the API's size limit."""

    http_status = 413


class UnsupportedMediaType(BadBody):
    """The request body is not declared `application/json`."""

    http_status = 415

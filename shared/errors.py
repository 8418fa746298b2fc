"""Hippo's exceptions: a short tree, so callers catch what they can handle."""

from __future__ import annotations

from dataclasses import dataclass


class HippoError(Exception):
    """Base of every error Hippo raises on purpose."""


class SettingsError(HippoError):
    """A HIPPO_* variable is missing or has a bad value; the message names it."""


@dataclass(frozen=True)
class FieldError:
    """One bad field of a request body: its dotted path and what is wrong."""

    field: str
    message: str


class ValidationFailed(HippoError):
    """A document failed validation; `errors` lists every bad field at once."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(HippoError):
    """No queue or task has that id."""


class Conflict(HippoError):
    """The request clashes with the current state (an existing id, a running task...)."""


class StoreUnavailable(HippoError):
    """Redis cannot be reached; the operation did nothing."""


class SecretError(HippoError):
    """A stored secret cannot be decrypted with any configured key."""

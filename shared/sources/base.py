"""The contract of a queue source: what it declares, and what a poller calls.

A source is a class with a `namespace` (the `queue.type` value, and the name of
the settings block), a `label` and typed `params`. Third parties register one
under the `hippo.sources` entry point group; `/queuetypes/` is generated from
these declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hippo.shared.secrets import MASK, mask_url_password, unmask_url_password


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

PARAM_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Param:
    """One setting of a source. `check` raises ValueError with a message for a bad value."""

    name: str
    type: str = "str"
    default: Any = REQUIRED
    secret: bool = False
    label: str = ""
    # A secret URL (a connection string) is shown with only its password masked.
    secret_url: bool = False
    check: Callable[[Any], None] | None = field(default=None, compare=False)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def is_secret(self) -> bool:
        return self.secret or self.secret_url

    def masked(self, value: Any) -> Any:
        if not self.is_secret or value in ("", None):
            return value
        return mask_url_password(value) if self.secret_url else MASK

    def keep_stored(self, sent: Any, stored: Any) -> Any:
        """The value to save when a client sends `sent` back over `stored`."""
        if not self.is_secret or stored is None:
            return sent
        if self.secret_url:
            return unmask_url_password(sent, stored)
        return stored if sent == MASK else sent

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": None if self.required else self.default,
            "required": self.required,
            "secret": self.is_secret,
            "label": self.label,
        }


class Source:
    """Base of every queue source. Subclasses declare; pollers are added by later work."""

    namespace: ClassVar[str]
    label: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    @classmethod
    def param(cls, name: str) -> Param:
        return next(p for p in cls.params if p.name == name)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "type": cls.namespace,
            "label": cls.label,
            "parameters": [p.describe() for p in cls.params],
        }

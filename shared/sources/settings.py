"""A source's settings: a pydantic model whose fields are the parameters of its block.

The model is the one declaration of a queue type's parameters: it validates a queue's
`queue.<type>` block, lists the parameters on /queuetypes/ and gives the block's JSON
schema for /openapi.json.

    class RedisListSettings(SourceSettings):
        host: Annotated[Text, Field(title="Redis host")]
        port: Annotated[int, Field(title="Redis port"), AfterValidator(_tcp_port)] = 6379
        password: Annotated[Secret, Field(title="Redis password")] = ""

A field without a default is required; `Field(title=...)` is its label and
`Field(description=...)` its help (both on /queuetypes/ and in the UI's form); an
`AfterValidator` that raises ValueError rejects a value with the error's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, Strict
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from hippo.shared.original import INPUT_TYPES, SECRET_INPUT
from hippo.shared.secrets import MASK, mask_url_password, unmask_url_password, url_password

# Users write `"filter_val": 0` or `"queuename": 123` and mean text: a JSON number is
# taken as its text (`"0"`), a boolean is refused. Other types stay strict (see
# SourceSettings), so `"port": "6379"` or `"ssl": "yes"` is an error, not a guess. The
# JSON schema says "string": numbers are tolerated, not advertised.
Text = Annotated[str, Strict(False)]


class SecretKind(StrEnum):
    """How much of a secret parameter is hidden when a queue is shown."""

    VALUE = "value"  # all of it: shown as ********
    URL_PASSWORD = "url-password"  # a connection string: only its password

    def masked(self, value: str) -> str:
        if value == "":
            return value
        return mask_url_password(value) if self is SecretKind.URL_PASSWORD else MASK

    def keep_stored(self, sent: str, stored: str) -> str:
        """The value to save when a client sends `sent` back over `stored`: a masked
        value (or a URL with its password masked) keeps the stored secret."""
        if self is SecretKind.URL_PASSWORD:
            return unmask_url_password(sent, stored)
        return stored if sent == MASK else sent


@dataclass(frozen=True)
class SecretMarker:
    """Marks a field secret: encrypted at rest, masked when shown, never echoed in errors."""

    kind: SecretKind

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["x-secret"] = self.kind.value
        if self.kind is SecretKind.VALUE:
            schema["format"] = "password"  # OpenAPI's hint to hide what is typed
        return schema


Secret = Annotated[Text, SecretMarker(SecretKind.VALUE)]
SecretURL = Annotated[Text, SecretMarker(SecretKind.URL_PASSWORD)]

# The parameter types /queuetypes/ can name: a settings block is flat JSON scalars.
PARAMETER_TYPES: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


def secret_kind(field: FieldInfo) -> SecretKind | None:
    return next((m.kind for m in field.metadata if isinstance(m, SecretMarker)), None)


class SourceSettings(BaseModel):
    """Base of every source's settings model. Fields are strict (no `"5"` for an int,
    no `1` for a bool), unknown names are refused, and a validated block is frozen
    (one instance serves concurrent polls)."""

    model_config = ConfigDict(extra="forbid", strict=True, coerce_numbers_to_str=True, frozen=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            if field.annotation not in PARAMETER_TYPES:
                raise TypeError(
                    f"{cls.__name__}.{name}: a source parameter is Text, Secret, SecretURL, "
                    f"int, float or bool, got {field.annotation!r}"
                )

    @classmethod
    def secret_fields(cls) -> dict[str, SecretKind]:
        """Secret parameters by name."""
        kinds = {name: secret_kind(field) for name, field in cls.model_fields.items()}
        return {name: kind for name, kind in kinds.items() if kind is not None}

    def mask_in(self, text: str) -> str:
        """`text` (an error message, say) with each secret setting's value masked, a
        connection string's password also where it is quoted alone."""
        for name, kind in self.secret_fields().items():
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                continue
            text = text.replace(value, kind.masked(value))
            if kind is SecretKind.URL_PASSWORD:
                password = url_password(value)
                if password:
                    text = text.replace(password, MASK)
        return text

    @classmethod
    def parameters(cls) -> list[dict[str, Any]]:
        """The parameters as /queuetypes/ lists them."""
        return [
            {
                "name": name,
                "type": PARAMETER_TYPES[field.annotation],
                "default": None
                if field.is_required()
                else field.get_default(call_default_factory=True),
                "required": field.is_required(),
                "secret": secret_kind(field) is not None,
                "label": field.title or "",
                "help": field.description or "",
            }
            for name, field in cls.model_fields.items()
        ]

    @classmethod
    def inputs(cls) -> dict[str, dict[str, Any]]:
        """The parameters as the original Hippo's /queuetypes/ listed them (its page
        builds its queue form from these): name -> {"input": "text" | "number" |
        "password" | "checkbox", "label", "default"}, without "default" when required."""
        found = {}
        for parameter in cls.parameters():
            input_type = SECRET_INPUT if parameter["secret"] else INPUT_TYPES[parameter["type"]]
            entry = {"input": input_type, "label": parameter["label"]}
            if not parameter["required"]:
                entry["default"] = parameter["default"]
            found[parameter["name"]] = entry
        return found

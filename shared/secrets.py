"""Encryption at rest and masking of secret source settings.

Secrets are encrypted with Fernet (the `cryptography` package). HIPPO_SECRET_KEYS
lists keys newest first: the newest encrypts, every key decrypts, so a key is
rotated by putting a new one in front and running `hippo rotate-secrets`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hippo.shared.errors import SecretError

# What the API shows instead of a secret; sending it back keeps the stored value.
MASK = "********"

# Stored secrets carry this prefix so a plain value is never mistaken for a token.
_PREFIX = "enc:"


def check_keys(keys: Iterable[str]) -> None:
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(
                f"key #{index + 1} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None


class SecretBox:
    def __init__(self, keys: Iterable[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plain: str) -> str:
        return _PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def rotate(self, stored: str) -> str:
        """The same secret, encrypted with the newest key."""
        return self.encrypt(self.decrypt(stored))

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            return stored  # written before encryption was configured: plain
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretError("a stored secret matches none of HIPPO_SECRET_KEYS") from None


def _split_password(url: str) -> tuple[str, str | None]:
    """The URL with its password replaced by MASK, and the password (None if none)."""
    scheme = ""
    rest = url
    if url.startswith("jdbc:"):
        scheme, rest = "jdbc:", url[len("jdbc:") :]
    try:
        parts = urlsplit(rest)
    except ValueError:
        # Not parseable as a URL (`redis://[::1`): still mask what looks like a password.
        return mask_url_passwords_in(url), None
    if parts.password is None:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    masked = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))
    return scheme + masked, parts.password


# `scheme://user:password@` anywhere in a text; the user may be empty (`redis://:pw@`).
_URL_PASSWORD_IN_TEXT = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def mask_url_passwords_in(text: str) -> str:
    """Every URL password inside `text` masked: the one masker of log lines, poll errors
    and API output (`cannot reach redis://:pw@host` → `redis://:********@host`)."""
    return _URL_PASSWORD_IN_TEXT.sub(rf"\g<1>{MASK}@", text)


def mask_url_password(url: str) -> str:
    """`postgresql://app:pw@db/x` → `postgresql://app:********@db/x`."""
    return _split_password(url)[0]


def url_password(url: str) -> str | None:
    """The password of a URL (`jdbc:` prefix allowed), None when it has none: for masking
    the password where a message quotes it without its URL."""
    return _split_password(url)[1]


def unmask_url_password(sent: str, stored: str) -> str:
    """A URL sent back with the masked password gets the stored password again."""
    _, sent_password = _split_password(sent)
    if sent_password != MASK:
        return sent
    _, stored_password = _split_password(stored)
    if stored_password is None:
        return sent
    return sent.replace(f":{MASK}@", f":{stored_password}@", 1)

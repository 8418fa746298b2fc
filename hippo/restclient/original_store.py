"""The queue definitions an original Hippo (Hobsons/hippo) kept in its Redis, read back.

Its layout, as its queues.py and aes.py wrote it: the LIST `hippo:all_queueid_list`
holds one entry per queue, the key `hippo:queue:<id>`; that key is a STRING holding the
whole queue definition as JSON (secrets in clear inside it), encrypted with AES-256 in
CBC mode. The AES key is the SHA-256 digest of the original's `AES_CIPHER_KEY` setting;
the stored text is base64 of a 16-byte IV followed by the ciphertext, the JSON having been
padded to a multiple of 32 bytes with N bytes of value N. Records written before the
original encrypted them are plain JSON, which it read as such: so do we.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

QUEUE_LIST = "hippo:all_queueid_list"
QUEUE_KEY_PREFIX = "hippo:queue:"
_IV_BYTES = _AES_BLOCK = 16
_PAD_BLOCK = 32


class OriginalDataError(Exception):
    """A stored queue that cannot be read: not JSON, or not decryptable with the key."""


@dataclass(frozen=True)
class OriginalQueue:
    """One stored queue: its key's id and its definition (secrets in clear), or why it
    could not be read."""

    queue_id: str
    definition: dict[str, Any] | None
    problem: str = ""


def original_aes_key(cipher_key: str) -> bytes:
    """The AES-256 key the original derived from its AES_CIPHER_KEY setting."""
    return hashlib.sha256(cipher_key.encode()).digest()


def decrypt_record(stored: str, aes_key: bytes | None) -> dict[str, Any]:
    """A stored queue record as a JSON object: plain JSON as it is, else decrypted.
    Raises OriginalDataError naming the problem (never the record's content)."""
    text = stored.strip()
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError as e:
            raise OriginalDataError(f"plain record is not JSON: {e}") from None
    else:
        if aes_key is None:
            raise OriginalDataError("record is encrypted: give the original's AES_CIPHER_KEY")
        found = json.loads(_decrypted_text(text, aes_key))
    if not isinstance(found, dict):
        raise OriginalDataError(f"record is JSON but not an object ({type(found).__name__})")
    return found


def _decrypted_text(text: str, aes_key: bytes) -> str:
    wrong_key = OriginalDataError("cannot decrypt the record: is AES_CIPHER_KEY the original's?")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise OriginalDataError("record is neither JSON nor base64") from None
    body = raw[_IV_BYTES:]
    if len(raw) <= _IV_BYTES or len(body) % _AES_BLOCK:
        raise OriginalDataError("record is too short or not whole AES blocks")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(raw[:_IV_BYTES])).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= _PAD_BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise wrong_key
    try:
        plain = padded[:-pad].decode()
        json.loads(plain)
    except ValueError:
        raise wrong_key from None
    return plain


def read_original_queues(client: Any, aes_key: bytes | None) -> list[OriginalQueue]:
    """Every queue the original's Redis (a sync redis-py client, replies as bytes) lists,
    in its list's order, each once."""
    entries = [entry.decode() for entry in client.lrange(QUEUE_LIST, 0, -1)]
    keys = list(dict.fromkeys(entries))
    values = client.mget(keys) if keys else []
    found = []
    for key, value in zip(keys, values, strict=True):
        queue_id = key.removeprefix(QUEUE_KEY_PREFIX)
        if value is None:
            found.append(OriginalQueue(queue_id, None, f"listed but {key} is missing"))
            continue
        try:
            definition = decrypt_record(value.decode(), aes_key)
        except (OriginalDataError, UnicodeDecodeError) as e:
            found.append(OriginalQueue(queue_id, None, str(e)))
            continue
        found.append(OriginalQueue(queue_id, definition))
    return found

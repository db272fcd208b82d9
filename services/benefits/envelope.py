"""Envelope encryption of claim documents (docs/documents.md).

Each document gets a data key of its own (256 random bits) that encrypts its bytes with AES-GCM;
the data key is itself encrypted ("wrapped") with AES-GCM under a key-encryption key (KEK) of
the ring in settings, and stored on the document's row with that KEK's id. The object store
holds only ciphertext; the database holds only wrapped keys; reading a document needs both and
the KEK.

- Rotation: a new KEK is added to the ring and made current; new documents use it, old ones
  still open with the KEK their row names, and the documents worker rewraps old rows' data keys
  under the current KEK (a row update: the object is not touched). Once no row names an old KEK
  it can leave the ring.
- Binding: the object's key is the associated data of its ciphertext, and (KEK id, object key)
  of its wrapped key, so an object or a wrapped key copied onto another document does not open.
- Erasure: the wrapped key is cleared with the document, so the bytes are unreadable at once,
  in every copy of the object store, before the sweep deletes the object.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: The first bytes of every encrypted object (format 1: magic, 12-byte nonce, ciphertext and tag).
MAGIC = b"SJD1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """The object or its wrapped key does not open: tampered with, moved, or the KEK is gone."""


def kek_from_secret(secret: str) -> bytes:
    """A 256-bit KEK from a secret of settings (any string of 16+ characters)."""
    return hashlib.sha256(b"sajja.documents.kek\x00" + secret.encode()).digest()


class KeyRing:
    """KEKs by id; ``current`` wraps new data keys."""

    def __init__(self, secrets: dict[int, str], current: int | None = None) -> None:
        if not secrets:
            raise ValueError("the document key ring is empty")
        self.keys = {key_id: AESGCM(kek_from_secret(secret)) for key_id, secret in secrets.items()}
        self.current = current or max(secrets)
        if self.current not in self.keys:
            raise ValueError(f"the current document key {self.current} is not in the ring {sorted(self.keys)}")

    def wrap(self, data_key: bytes, object_key: str, key_id: int | None = None) -> tuple[int, bytes]:
        key_id = key_id or self.current
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + self.keys[key_id].encrypt(nonce, data_key, _wrap_aad(key_id, object_key))

    def unwrap(self, key_id: int, wrapped: bytes, object_key: str) -> bytes:
        kek = self.keys.get(key_id)
        if kek is None:
            raise DecryptionError(f"document key {key_id} is not in the ring")
        try:
            return kek.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(key_id, object_key))
        except InvalidTag:
            raise DecryptionError("wrapped data key does not open") from None

    def seal(self, data: bytes, object_key: str) -> tuple[bytes, int, bytes]:
        """``(object bytes, KEK id, wrapped data key)`` for a new document."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        sealed = MAGIC + nonce + AESGCM(data_key).encrypt(nonce, data, object_key.encode())
        key_id, wrapped = self.wrap(data_key, object_key)
        return sealed, key_id, wrapped

    def open(self, sealed: bytes, key_id: int, wrapped: bytes, object_key: str) -> bytes:
        if not sealed.startswith(MAGIC):
            raise DecryptionError("not an encrypted document")
        data_key = self.unwrap(key_id, wrapped, object_key)
        body = sealed[len(MAGIC):]
        try:
            return AESGCM(data_key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], object_key.encode())
        except InvalidTag:
            raise DecryptionError("document does not open") from None

    def rewrap(self, key_id: int, wrapped: bytes, object_key: str) -> tuple[int, bytes]:
        """The same data key wrapped under the current KEK."""
        return self.wrap(self.unwrap(key_id, wrapped, object_key), object_key)


def _wrap_aad(key_id: int, object_key: str) -> bytes:
    return f"{key_id}:{object_key}".encode()

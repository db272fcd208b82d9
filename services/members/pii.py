"""Personal data under Thailand's PDPA: national ID numbers encrypted, hashed for look-up, masked.

- ``encrypt``/``decrypt``: Fernet (AES-128-CBC with HMAC-SHA256) under a ring of versioned keys
  (``SAJJA_MEMBERS_PII_KEYS``, ``id:key,id:key``; ``SAJJA_MEMBERS_PII_KEY`` is key 1). New
  ciphertexts use the current key; each row records its key's id (``members.national_id_key_id``)
  and is read with that key, so a new key can become current while old rows stay readable and are
  moved over in the background (``services.members.reencrypt``; docs/national-id-keys.md).
- ``lookup_hash``: HMAC-SHA256 keyed by ``SAJJA_MEMBERS_PII_HASH_KEY``, so equal numbers match
  (one person, one current membership) but the table alone cannot be brute-forced. It has one
  key, not a ring: a look-up must find every row with one hash of the number asked for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken

from shared.auth import Role
from shared.errors import SajjaError, register_messages

#: Roles that see whole national ID numbers (and each read is logged); everyone else sees masks.
WHOLE_ID_ROLES = frozenset({Role.committee, Role.fund_admin, Role.platform_admin})

#: Key ids are stored as ``smallint``.
MAX_KEY_ID = 32767

register_messages(
    {
        "pii.key_missing": {
            "th": ("ไม่มีกุญแจถอดรหัสเลขประจำตัวประชาชน",
                   "เลขประจำตัวประชาชนนี้เข้ารหัสด้วยกุญแจรุ่น {key_id} ซึ่งไม่มีในการตั้งค่าของระบบ โปรดแจ้งผู้ดูแลระบบ"),
            "en": ("National ID key missing",
                   "This national ID number is encrypted under key {key_id}, which the service's key ring "
                   "lacks; tell the platform's operators"),
        },
        "pii.key_mismatch": {
            "th": ("ถอดรหัสเลขประจำตัวประชาชนไม่ได้",
                   "กุญแจรุ่น {key_id} ในการตั้งค่าไม่ตรงกับที่ใช้เข้ารหัสข้อมูลนี้ โปรดแจ้งผู้ดูแลระบบ"),
            "en": ("National ID cannot be decrypted",
                   "Key {key_id} in the service's key ring is not the key this number was encrypted "
                   "with; tell the platform's operators"),
        },
    }
)


class PiiKeyError(SajjaError):
    """A stored national ID the key ring cannot decrypt: a configuration fault, not the caller's,
    answered 503 with a code saying which key is at fault."""

    status_code = 503


def parse_key_ring(spec: str) -> dict[int, str]:
    """``"1:key-one,2:key-two"`` as ``{1: "key-one", 2: "key-two"}``; ``ValueError`` saying what
    is wrong for an empty entry, an id that is not a whole number from 1 to 32767, an empty key or
    an id given twice. The key itself is never in the message."""
    ring: dict[int, str] = {}
    for position, entry in enumerate(spec.split(","), start=1):
        entry = entry.strip()
        if not entry:
            raise ValueError(f"SAJJA_MEMBERS_PII_KEYS: entry {position} is empty (expected id:key,id:key)")
        key_id, sep, key = entry.partition(":")
        if not sep or not key_id.strip().isdigit() or not 1 <= int(key_id) <= MAX_KEY_ID:
            raise ValueError(
                f"SAJJA_MEMBERS_PII_KEYS: entry {position} does not start with a key id from 1 to {MAX_KEY_ID} and ':'"
            )
        if not key.strip():
            raise ValueError(f"SAJJA_MEMBERS_PII_KEYS: key {int(key_id)} is empty")
        if int(key_id) in ring:
            raise ValueError(f"SAJJA_MEMBERS_PII_KEYS: key {int(key_id)} is given twice")
        ring[int(key_id)] = key.strip()
    return ring


def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


class PiiVault:
    """The key ring, its current key, and the look-up hash's key."""

    def __init__(self, keys: Mapping[int, str], current_key_id: int, hash_key: str) -> None:
        if current_key_id not in keys:
            raise ValueError(f"the current national ID key {current_key_id} is not in the key ring")
        self._fernets = {key_id: _fernet(key) for key_id, key in keys.items()}
        self.current_key_id = current_key_id
        self._hash_key = hashlib.sha256(hash_key.encode()).digest()

    @property
    def key_ids(self) -> frozenset[int]:
        return frozenset(self._fernets)

    def lookup_hash(self, national_id: str) -> bytes:
        return hmac.new(self._hash_key, national_id.encode(), hashlib.sha256).digest()

    def encrypt(self, national_id: str) -> tuple[int, str]:
        """The current key's id and the number encrypted under it."""
        return self.current_key_id, self._fernets[self.current_key_id].encrypt(national_id.encode()).decode()

    def decrypt(self, token: str, key_id: int) -> str:
        """The number in ``token``, read with key ``key_id``; :class:`PiiKeyError` when the ring
        lacks that key or holds another key under its id."""
        fernet = self._fernets.get(key_id)
        if fernet is None:
            raise PiiKeyError("pii.key_missing", params={"key_id": key_id})
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise PiiKeyError("pii.key_mismatch", params={"key_id": key_id}) from None

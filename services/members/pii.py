"""Personal data under Thailand's PDPA: national ID numbers encrypted, hashed for look-up, masked.

- ``encrypt``/``decrypt``: Fernet (AES-128-CBC with HMAC-SHA256), keyed by ``SAJJA_MEMBERS_PII_KEY``.
- ``lookup_hash``: HMAC-SHA256 keyed by ``SAJJA_MEMBERS_PII_HASH_KEY``, so equal numbers match
  (one person, one current membership) but the table alone cannot be brute-forced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet

from shared.auth import Role

#: Roles that see whole national ID numbers (and each read is logged); everyone else sees masks.
WHOLE_ID_ROLES = frozenset({Role.committee, Role.fund_admin, Role.platform_admin})


class PiiVault:
    def __init__(self, key: str, hash_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))
        self._hash_key = hashlib.sha256(hash_key.encode()).digest()

    def lookup_hash(self, national_id: str) -> bytes:
        return hmac.new(self._hash_key, national_id.encode(), hashlib.sha256).digest()

    def encrypt(self, national_id: str) -> str:
        return self._fernet.encrypt(national_id.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()

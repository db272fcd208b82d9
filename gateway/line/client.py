"""Talking to LINE: verifying ID tokens by LINE's rules, webhook signatures, push and reply.

ID tokens (LINE Login and LIFF) are JWTs that LINE signs with ES256 (keys at the JWKS, chosen
by ``kid``) or, for web login, HS256 with the channel secret. Checked: the algorithm allowlist,
the signature, ``iss`` = https://access.line.me, ``aud`` = our channel id, ``exp``, and ``nonce``
when the client sent one. The LINE user id is taken from the verified ``sub`` only, never from
anything else the client says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JOSEError

from gateway.settings import GatewaySettings
from shared.errors import SajjaError, Unauthenticated, register_messages

register_messages(
    {
        "line.not_configured": {
            "th": ("ยังไม่ได้ตั้งค่า LINE", "ระบบนี้ยังไม่ได้เชื่อมต่อกับ LINE"),
            "en": ("LINE not configured", "This installation is not connected to LINE"),
        },
        "line.id_token_invalid": {
            "th": ("โทเคน LINE ไม่ถูกต้อง", "ยืนยันตัวตนกับ LINE ไม่สำเร็จ โปรดเข้าสู่ระบบ LINE ใหม่"),
            "en": ("Invalid LINE token", "The LINE ID token could not be verified; sign in to LINE again"),
        },
        "line.signature_invalid": {
            "th": ("ลายเซ็นไม่ถูกต้อง", "ลายเซ็นของ LINE ไม่ถูกต้อง"),
            "en": ("Bad signature", "The LINE signature does not match"),
        },
    }
)

ALGORITHMS = ("ES256", "HS256")
JWKS_TTL_SECONDS = 3600


def check_signature(channel_secret: str, body: bytes, signature: str | None) -> None:
    """``X-Line-Signature``: base64 HMAC-SHA256 of the raw body with the channel secret, compared in constant time."""
    expected = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()
    if not signature or not hmac.compare_digest(expected, signature):
        raise SajjaError("line.signature_invalid", status_code=401)


class LineClient:
    def __init__(self, settings: GatewaySettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._jwks: dict[str, dict[str, Any]] = {}
        self._jwks_at = 0.0

    @property
    def login_configured(self) -> bool:
        return bool(self.settings.line_login_channel_id)

    @property
    def messaging_configured(self) -> bool:
        return bool(self.settings.line_messaging_channel_secret and self.settings.line_messaging_access_token)

    def ensure_login(self) -> None:
        if not self.login_configured:
            raise SajjaError("line.not_configured", status_code=503)

    async def _key(self, kid: str) -> dict[str, Any]:
        if kid not in self._jwks or time.monotonic() - self._jwks_at > JWKS_TTL_SECONDS:
            try:
                response = await self.http.get(self.settings.line_jwks_url, timeout=5)
                response.raise_for_status()
                self._jwks = {k["kid"]: k for k in response.json().get("keys", []) if "kid" in k}
                self._jwks_at = time.monotonic()
            except (httpx.HTTPError, ValueError):
                raise SajjaError("upstream.unavailable", status_code=503, params={"service": "LINE"}) from None
        if kid not in self._jwks:
            raise Unauthenticated("line.id_token_invalid")
        return self._jwks[kid]

    async def verify_id_token(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """The verified claims of a LINE ID token; 401 otherwise."""
        self.ensure_login()
        try:
            header = jwt.get_unverified_header(id_token)
        except JOSEError:
            raise Unauthenticated("line.id_token_invalid") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated("line.id_token_invalid")
        if alg == "HS256":
            if not self.settings.line_login_channel_secret:
                raise Unauthenticated("line.id_token_invalid")
            key: Any = self.settings.line_login_channel_secret
        else:
            key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(id_token, key, algorithms=[alg], audience=self.settings.line_login_channel_id,
                                issuer=self.settings.line_issuer, options={"require_exp": True, "require_sub": True})
        except (ExpiredSignatureError, JOSEError):
            raise Unauthenticated("line.id_token_invalid") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise Unauthenticated("line.id_token_invalid")
        return claims

    def _headers(self, retry_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.settings.line_messaging_access_token}", "Content-Type": "application/json"}
        if retry_key:
            headers["X-Line-Retry-Key"] = retry_key
        return headers

    async def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> httpx.Response:
        return await self.http.post(f"{self.settings.line_api_base}/v2/bot/message/push",
                                    json={"to": to, "messages": messages}, headers=self._headers(retry_key), timeout=10)

    async def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> httpx.Response:
        return await self.http.post(f"{self.settings.line_api_base}/v2/bot/message/reply",
                                    json={"replyToken": reply_token, "messages": messages}, headers=self._headers(), timeout=10)

"""A local stand-in for LINE, speaking its real protocol: the Login JWKS, ID tokens signed like
LINE's, the Messaging API push and reply endpoints (with X-Line-Retry-Key and 429s), and a
webhook sender that signs bodies with the channel secret.

``X-Line-Retry-Key`` as LINE has it: a push whose key was accepted within the last 24 hours is not
delivered again; it is answered 409 with the first request's id in ``X-Line-Accepted-Request-Id``.
``before_push`` (a test's coroutine, given the retry key) runs while a push is being handled,
before it is accepted: a test checks the database from there, or holds the answer back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt

CHANNEL_ID = "1650000000"
LOGIN_SECRET = "line-login-channel-secret-0123456789"
MESSAGING_SECRET = "line-messaging-channel-secret-0123"
ACCESS_TOKEN = "line-channel-access-token-0123456789"
ISSUER = "https://access.line.me"
#: How long LINE remembers an accepted retry key.
RETRY_KEY_SECONDS = 24 * 3600


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


class FakeLine:
    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = uuid.uuid4().hex[:12]
        self.pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode()
        self.pushes: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        #: Accepted retry keys: when, and the request id answered.
        self.retry_keys: dict[str, tuple[float, str]] = {}
        self.before_push: Any = None
        self.throttle_next = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y), "kid": self.kid,
                          "alg": "ES256", "use": "sig"}]}

    def id_token(self, sub: str, *, nonce: str | None = None, alg: str = "ES256", **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": sub, "aud": CHANNEL_ID, "exp": now + 3600, "iat": now, "name": "สมศรี"}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(overrides)
        if alg == "HS256":
            return jwt.encode(claims, LOGIN_SECRET, algorithm="HS256")
        return jwt.encode(claims, self.pem, algorithm="ES256", headers={"kid": self.kid})

    def webhook(self, events: list[dict[str, Any]]) -> tuple[bytes, str]:
        body = json.dumps({"destination": "Uxxxxxxxx", "events": events}, ensure_ascii=False).encode()
        signature = base64.b64encode(hmac.new(MESSAGING_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        return body, signature

    @staticmethod
    def text_event(user: str, text: str, event_id: str | None = None) -> dict[str, Any]:
        return {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
                "webhookEventId": event_id or uuid.uuid4().hex.upper()[:26], "deliveryContext": {"isRedelivery": False},
                "source": {"type": "user", "userId": user}, "replyToken": uuid.uuid4().hex,
                "message": {"id": str(int(time.time() * 1000)), "type": "text", "text": text}}

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"

    async def _certs(self, request: web.Request) -> web.Response:
        return web.json_response(self.jwks())

    async def _push(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Authentication failed"}, status=401)
        if self.throttle_next:
            self.throttle_next -= 1
            return web.json_response({"message": "Too many requests"}, status=429, headers={"Retry-After": "1"})
        key = request.headers.get("X-Line-Retry-Key")
        if self.before_push is not None:
            await self.before_push(key)
        accepted = self.retry_keys.get(key) if key else None
        if accepted is not None and time.time() - accepted[0] < RETRY_KEY_SECONDS:
            return web.json_response({"message": "The retry key is already accepted"}, status=409,
                                     headers={"X-Line-Accepted-Request-Id": accepted[1]})
        request_id = str(uuid.uuid4())
        if key:
            self.retry_keys[key] = (time.time(), request_id)
        self.pushes.append({**await request.json(), "retry_key": key})
        return web.json_response({"sentMessages": [{"id": "1", "quoteToken": "q"}]}, headers={"X-Line-Request-Id": request_id})

    async def _reply(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Authentication failed"}, status=401)
        self.replies.append(await request.json())
        return web.json_response({"sentMessages": [{"id": "2"}]})

    def texts_to(self, user: str) -> list[str]:
        return [m["text"] for push in self.pushes if push["to"] == user for m in push["messages"]]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/oauth2/v2.1/certs", self._certs)
        app.router.add_post("/v2/bot/message/push", self._push)
        app.router.add_post("/v2/bot/message/reply", self._reply)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self) -> dict[str, Any]:
        """Gateway settings (init kwargs) that point at this fake."""
        return {"line_api_base": self.url, "line_jwks_url": f"{self.url}/oauth2/v2.1/certs", "line_login_channel_id": CHANNEL_ID,
                "line_login_channel_secret": LOGIN_SECRET, "line_messaging_channel_secret": MESSAGING_SECRET,
                "line_messaging_access_token": ACCESS_TOKEN}

    def env(self) -> dict[str, str]:
        return {f"SAJJA_GATEWAY_{k.upper()}": v for k, v in self.settings().items()}


class ThreadedFakeLine:
    """The fake on its own event loop in a thread, for tests that drive real processes synchronously."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self.fake = FakeLine()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeLine:
        import asyncio

        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

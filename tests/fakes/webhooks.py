"""A grant system's webhook receiver, and a DNS that answers what a test says.

- ``WebhookReceiver``: a real HTTP server on 127.0.0.1, over https with a certificate of its own CA
  for a name (``tls_name``) or plain http; it checks each delivery's signature, and records the
  ``Host`` header and the TLS server name (SNI) it was reached by. ``answer`` sets what it replies
  (a status, or a redirect elsewhere). ``hold()`` keeps every delivery that arrives waiting for its
  answer until ``release()`` (recorded on arrival, with the sender's port, in ``held``): a test
  kills a sender while its call is under way. ``ThreadedWebhookReceiver`` runs one on a loop of its
  own, for tests that drive real processes synchronously.
- ``FakeDns``: a ``shared.outbound.Resolver`` over a table the test changes as it goes (a name
  that pointed outside now points inside), unknown names failing as ``getaddrinfo`` does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.grants.worker import verify


class FakeDns:
    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


def _certificates(name: str) -> tuple[bytes, bytes, bytes]:
    """A CA, and a certificate for ``name`` it signed, with its key: PEM (ca, certificate, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sajja tests' webhook CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), leaf.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class WebhookReceiver:
    def __init__(self, tls_name: str | None = None) -> None:
        self.tls_name = tls_name
        self.secret = ""
        self.seen: list[dict[str, Any]] = []
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []
        self.elsewhere_hits = 0
        self.bad_signatures = 0
        self.status = 204
        self.redirect_to: str | None = None
        self.port = 0
        self.ca_pem = b""
        #: Deliveries that arrived while held: (delivery id, the sender's port).
        self.held: list[tuple[str, int]] = []
        self._open: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    def url(self, host: str = "127.0.0.1", path: str = "/hooks") -> str:
        return f"{'https' if self.tls_name else 'http'}://{host}:{self.port}{path}"

    def client_ssl(self) -> ssl.SSLContext:
        """What a sender must trust to verify this receiver's certificate."""
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def answer(self, status: int = 204, redirect_to: str | None = None) -> None:
        self.status, self.redirect_to = status, redirect_to

    async def _hooks(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.hosts.append(request.headers.get("Host", ""))
        if not verify(self.secret, request.headers.get("Sajja-Signature", ""), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.seen.append(json.loads(body))
        if self._open is not None and not self._open.is_set():
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.held.append((request.headers.get("Sajja-Delivery", ""), peer[1] if peer else 0))
            await self._open.wait()
        if self.redirect_to:
            return web.Response(status=self.status, headers={"Location": self.redirect_to})
        return web.Response(status=self.status)

    def hold(self) -> None:
        """Deliveries from now on wait for their answer until :meth:`release` (on the receiver's loop)."""
        self._open = asyncio.Event()

    def release(self) -> None:
        if self._open is not None:
            self._open.set()

    async def _elsewhere(self, request: web.Request) -> web.Response:
        self.elsewhere_hits += 1
        return web.Response(status=204)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hooks", self._hooks)
        app.router.add_route("*", "/elsewhere", self._elsewhere)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        context = None
        if self.tls_name:
            self.ca_pem, cert, key = _certificates(self.tls_name)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            with tempfile.TemporaryDirectory(prefix="webhook-tls-") as folder:
                (Path(folder) / "cert.pem").write_bytes(cert)
                (Path(folder) / "key.pem").write_bytes(key)
                context.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ThreadedWebhookReceiver:
    """A :class:`WebhookReceiver` on its own event loop in a thread; ``hold`` and ``release`` may be
    called from the test's thread."""

    def __init__(self) -> None:
        self.receiver = WebhookReceiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedWebhookReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def hold(self) -> None:
        self._loop.call_soon_threadsafe(self.receiver.hold)

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self.receiver.release)

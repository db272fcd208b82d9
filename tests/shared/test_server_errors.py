"""A service's unhandled error, answered by a real uvicorn to the gateway's pooled client."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from shared.errors import install_error_handlers
from shared.http1 import Http1Client
from tests.support.helpers import free_port


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    @app.get("/ok")
    async def ok() -> dict:
        return {"ok": True}

    return app


async def test_the_request_after_a_500_on_a_kept_connection_is_answered() -> None:
    """uvicorn closes the connection after an unhandled error (Starlette raises it again once the
    500 is sent); the 500 says ``Connection: close``, so the gateway's client does not send its next
    request on that connection, where it would be lost and answered 502 (found by the fuzzer:
    the request after a 500 through the gateway was a 502)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="critical",
                                           http="httptools", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    client = Http1Client(max_connections=1)
    try:
        for _ in range(5):
            failed = await client.send("127.0.0.1", port, "GET", b"/boom")
            assert failed.status == 500
            assert failed.header(b"connection") == b"close"
            after = await client.send("127.0.0.1", port, "GET", b"/ok")
            assert after.status == 200 and after.body == b'{"ok":true}'
    finally:
        await client.close()
        server.should_exit = True
        await serving

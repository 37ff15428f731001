"""The ASGI adapter of :class:`WebhookReceiver` (Starlette, FastAPI, uvicorn): ~60 lines.

Headers are decoded as Latin-1, as Starlette does; the body is read with the receiver's
``body_timeout`` and ``max_body_size``; the lifespan starts and closes the receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from ._reply import TIMEOUT, TOO_LARGE, Reply

if TYPE_CHECKING:
    from ._core import WebhookReceiver

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIApp:
    """``receiver.asgi()``: an ASGI 3 application answering CentrePoint deliveries."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websockets: refuse the connection
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.receiver.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.receiver.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self.receiver
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
        )
        reply = receiver.precheck(scope["method"], headers)
        if reply is None:
            try:
                async with asyncio.timeout(receiver.body_timeout):
                    body = await _read_capped(receive, receiver.max_body_size)
            except TimeoutError:
                reply = TIMEOUT
            else:
                if body is None:
                    reply = TOO_LARGE
                elif body is _DISCONNECTED:
                    return  # the sender went away: nothing to answer, nothing acknowledged
                else:
                    reply = await receiver.accept(headers, body)
        await _send(send, reply)


_DISCONNECTED = b"\0disconnected"  # a marker compared by identity, never a real body


async def _read_capped(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _DISCONNECTED
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, reply: Reply) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})

"""The ASGI adapter: ``receiver.asgi()``, for Starlette, FastAPI and any ASGI server.

Header bytes are decoded as aiohttp decodes them (UTF-8, undecodable bytes kept as lone
surrogates), so both adapters see the same text and answer alike; the body is read with the
receiver's ``body_timeout`` and ``max_body_size``. Run as the application itself, its lifespan
starts and closes the receiver, and a receiver that cannot start (a broken inbox) fails the
server's start-up (``lifespan.startup.failed``). Mounted in Starlette or FastAPI it gets no
lifespan of its own: pass ``lifespan=receiver.lifespan`` to the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from multidict import CIMultiDict

from ._core import ReceiverCore
from ._reply import TIMEOUT, TOO_LARGE, Reply

__all__ = ["ASGIApp"]

log = logging.getLogger("centrepoint_async.receiver")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIApp:
    """``receiver.asgi()``: an ASGI 3 application answering CentrePoint deliveries."""

    def __init__(self, receiver: ReceiverCore) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: ``lifespan``, ``http``; websockets are refused."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"].removeprefix("lifespan.")
            if kind not in ("startup", "shutdown"):
                continue
            step = self.receiver.start if kind == "startup" else self.receiver.close
            try:
                await step()
            except Exception as exc:
                log.exception("the receiver's %s failed", kind)
                reason = f"{type(exc).__name__}: {exc}"
                await send({"type": f"lifespan.{kind}.failed", "message": reason})
                return
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self.receiver
        headers = CIMultiDict((_text(name), _text(value)) for name, value in scope["headers"])
        reply = receiver.precheck(scope["method"], headers)
        if reply is None:
            config = receiver.config
            try:
                async with asyncio.timeout(config.body_timeout):
                    body = await _read_capped(receive, config.max_body_size)
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


def _text(raw: bytes) -> str:
    # as aiohttp does: what is not UTF-8 stays visible (lone surrogates) for the rules to refuse
    return raw.decode("utf-8", "surrogateescape")


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

"""The aiohttp adapter: ``receiver.handle`` and ``receiver.mount(app, path)``.

It imports the core and is imported by nothing in the package at import time (the façade
loads it on first use), so ``import centrepoint_async.receiver`` never loads ``aiohttp.web``.
The body is read with the receiver's ``body_timeout`` and ``max_body_size``; a body that
trickles or runs far past the cap closes the connection instead of being read to its end.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._core import ReceiverCore
from ._reply import TIMEOUT, TOO_LARGE

__all__ = ["handle", "mount"]


def mount(receiver: ReceiverCore, app: web.Application, path: str) -> None:
    """Route POST ``path`` of ``app`` to the receiver; start and close it with the app."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle(receiver, request)

    async def start(_: web.Application) -> None:
        await receiver.start()

    async def close(_: web.Application) -> None:
        await receiver.close()

    app.router.add_post(path, handler)
    app.on_startup.append(start)
    app.on_shutdown.append(close)  # before aiohttp waits for open requests


async def handle(receiver: ReceiverCore, request: web.Request) -> web.StreamResponse:
    """Answer one aiohttp request by the receiver's rules."""
    reply = receiver.precheck(request.method, request.headers)
    if reply is None:
        config, ended = receiver.config, True
        try:
            async with asyncio.timeout(config.body_timeout):
                body = await _read_capped(request, config.max_body_size)
                if body is None:  # read the rest away so the 413 gets through, but
                    # not without end: past 4x the cap it is cheaper to drop the connection
                    ended = await _discard(request, 4 * config.max_body_size)
        except TimeoutError:
            reply, ended = TIMEOUT, False
        else:
            reply = TOO_LARGE if body is None else await receiver.accept(request.headers, body)
        if not ended:
            # close rather than read more of a trickling or huge body (aiohttp lingers 10 s)
            request.protocol.force_close()
    return web.Response(status=reply.status, headers=reply.headers, body=reply.body)


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it is past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _discard(request: web.Request, limit: int) -> bool:
    """Read and drop the rest of a body up to ``limit`` bytes; whether it ended."""
    drained = 0
    while not request.content.at_eof():
        drained += len(await request.content.readany())
        if drained > limit:
            return False
    return True

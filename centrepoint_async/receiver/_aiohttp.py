"""The aiohttp adapter of :class:`WebhookReceiver`: ``receiver.handle`` (``mount`` routes to it).

The body is read with the receiver's ``body_timeout`` and ``max_body_size``; a body that
trickles or runs far past the cap closes the connection instead of being read to its end.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from ._reply import TIMEOUT, TOO_LARGE

if TYPE_CHECKING:
    from ._core import WebhookReceiver


async def handle(receiver: WebhookReceiver, request: web.Request) -> web.StreamResponse:
    """Answer one aiohttp request by the receiver's core."""
    reply = receiver.precheck(request.method, request.headers)
    if reply is None:
        ended = True
        try:
            async with asyncio.timeout(receiver.body_timeout):
                body = await _read_capped(request, receiver.max_body_size)
                if body is None:  # read the rest away so the 413 gets through, but
                    # not without end: past 4x the cap it is cheaper to drop the connection
                    ended = await _discard(request, 4 * receiver.max_body_size)
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

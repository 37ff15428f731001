"""Bearer tokens: a fixed one, or OAuth2 client credentials cached and renewed early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ._protocol import Token

__all__ = ["ClientCredentials", "StaticToken", "TokenSource"]


class TokenSource:
    """Gives the bearer token for the next request."""

    #: Whether a 401 can be cured by asking for a new token.
    can_refresh = False

    async def get(self) -> str:
        """The current bearer token."""
        raise NotImplementedError

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the server refused it) so the next :meth:`get` renews it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"  # never the token


class StaticToken(TokenSource):
    """A token given by the caller; it cannot be renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get(self) -> str:
        return self._token


class ClientCredentials(TokenSource):
    """Tokens from the client-credentials grant, cached until shortly before they expire.

    One token request at a time however many tasks need one (single flight). A token is renewed
    ``refresh_margin`` seconds (at most a tenth of its lifetime) before ``expires_in`` runs out,
    so no request has to fail with 401 first.
    """

    can_refresh = True

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: Token | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def _valid(self) -> str | None:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token.access_token
        return None

    async def get(self) -> str:
        token = self._valid()
        if token is not None:
            return token
        async with self._lock:
            token = self._valid()
            if token is not None:
                return token
            now = self._clock()
            fresh = await self._fetch()
            lifetime = max(0.0, fresh.expires_at - now)
            self._token = fresh
            self._renew_at = fresh.expires_at - min(self._refresh_margin, lifetime / 10)
            return fresh.access_token

    def invalidate(self, token: str) -> None:
        if self._token is not None and self._token.access_token == token:
            self._token = None

    @property
    def current(self) -> str | None:
        """The cached token, if any (for redaction)."""
        return self._token.access_token if self._token else None

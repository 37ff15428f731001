"""Bearer tokens: a fixed one, or OAuth2 client credentials cached and renewed early.

:class:`Tokens` gives the token source for a call's scope. With the client's ``scopes=None``
each scope gets its own token (``scope=Analytics`` for an analytics call): an account that
lacks one scope fails only the calls that need it, with an error naming it. With ``scopes``
given, one token holds exactly those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ._protocol import Token, secret_forms

__all__ = ["ClientCredentials", "StaticToken", "TokenSource", "Tokens"]

#: Fetches a token for these scopes; the attempt number of the call that needs it is for hooks.
FetchToken = Callable[[tuple[str, ...], int], Awaitable[Token]]


class TokenSource:
    """Gives the bearer token for the next request."""

    #: Whether a 401 can be cured by asking for a new token.
    can_refresh = False

    async def get(self, attempt: int = 1) -> str:
        """The current bearer token (``attempt``: of the call that needs it)."""
        raise NotImplementedError

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the server refused it) so the next :meth:`get` renews it."""

    @property
    def current(self) -> str | None:
        """The token in use, if any (for redaction)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"  # never the token


class StaticToken(TokenSource):
    """A token given by the caller; it cannot be renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get(self, attempt: int = 1) -> str:
        return self._token

    @property
    def current(self) -> str | None:
        return self._token


class ClientCredentials(TokenSource):
    """Tokens from the client-credentials grant for ``scopes``, cached until shortly before
    they expire.

    One token request at a time however many tasks need one (single flight). A token is renewed
    ``refresh_margin`` seconds (at most a tenth of its lifetime) before ``expires_in`` runs out,
    so no request has to fail with 401 first.
    """

    can_refresh = True

    def __init__(
        self,
        fetch: FetchToken,
        scopes: tuple[str, ...],
        *,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.scopes = scopes
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: Token | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def _valid(self) -> str | None:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token.access_token
        return None

    async def get(self, attempt: int = 1) -> str:
        token = self._valid()
        if token is not None:
            return token
        async with self._lock:
            token = self._valid()
            if token is not None:
                return token
            now = self._clock()
            fresh = await self._fetch(self.scopes, attempt)
            lifetime = max(0.0, fresh.expires_at - now)
            self._token = fresh
            self._renew_at = fresh.expires_at - min(self._refresh_margin, lifetime / 10)
            return fresh.access_token

    def invalidate(self, token: str) -> None:
        if self._token is not None and self._token.access_token == token:
            self._token = None

    @property
    def current(self) -> str | None:
        return self._token.access_token if self._token else None


class Tokens:
    """The token sources of one client, by scope, and the secrets they hold (for redaction)."""

    def __init__(
        self,
        sources: dict[str | None, TokenSource],
        make: Callable[[str], TokenSource] | None,
        fixed_secrets: list[str],
    ) -> None:
        self._sources = sources
        self._make = make  # a source for a scope not seen yet (None: one source for all)
        self._fixed = fixed_secrets
        self._known: tuple[tuple[str | None, ...], list[str]] = ((), [])

    @classmethod
    def fixed(cls, token: str) -> Tokens:
        """One caller-given token for every call."""
        return cls({None: StaticToken(token)}, None, secret_forms([token]))

    @classmethod
    def credentials(
        cls,
        fetch: FetchToken,
        client_id: str,
        client_secret: str,
        scopes: tuple[str, ...] | None,
    ) -> Tokens:
        """Client credentials: one token for ``scopes``, or (``None``) one per call's scope."""
        secrets = secret_forms([client_secret, client_id], client_id)
        if scopes is not None:
            return cls({None: ClientCredentials(fetch, scopes)}, None, secrets)
        return cls({}, lambda scope: ClientCredentials(fetch, (scope,)), secrets)

    @property
    def can_refresh(self) -> bool:
        return self._make is not None or any(s.can_refresh for s in self._sources.values())

    def source(self, scope: str | None) -> TokenSource:
        """The token source for a call of ``scope`` (``None``: a path of no known family)."""
        if self._make is None:
            return self._sources[None]
        key = scope or "CentrePoint"
        found = self._sources.get(key)
        if found is None:
            found = self._sources[key] = self._make(key)
        return found

    def secrets(self) -> list[str]:
        """Every spelling of every secret known: the credentials and the tokens in use."""
        current = tuple(source.current for source in self._sources.values())
        if current != self._known[0]:
            tokens = [token for token in current if token]
            self._known = (current, secret_forms(tokens))
        return self._known[1] + self._fixed

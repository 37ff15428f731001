"""The pure part of receiving: signatures, credentials, and parsing a delivery (no I/O)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Generic

import attrs
from multidict import CIMultiDict
from typing_extensions import TypeVar

from .._converter import parse_payload
from .._events import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_ID_HEADER,
    event_name,
)
from .._exceptions import ConfigurationError, ReceiverAuthError
from .._models import Event

P = TypeVar("P", default=Event | None, covariant=True)


def sign(body: bytes | str, secret: str) -> str:
    """``base64(HMAC-SHA256(key=UTF-8 secret, msg=body))``, as CentrePoint signs deliveries."""
    data = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check_secrets(secret: object) -> tuple[str, ...]:
    """``secret`` (one, or a list for rotation) as a tuple, or ``ConfigurationError``.

    The one rule for HMAC secrets, for :func:`verify_signature` and the receiver alike: an
    empty secret (``os.environ.get("SECRET", "")``), an empty list or a non-string is refused,
    since a body signed with the empty key would pass.
    """
    given: list[object] = []
    if isinstance(secret, str):
        given = [secret]
    elif isinstance(secret, Sequence) and not isinstance(secret, bytes):
        given = list(secret)
    secrets = tuple(s for s in given if isinstance(s, str) and s)
    if not given or len(secrets) != len(given):
        raise ConfigurationError("secret must be a non-empty string or list of them")
    return secrets


def verify_signature(
    body: bytes | str, signature: str | None, *, secret: str | Sequence[str]
) -> bool:
    """True if ``signature`` is the HMAC of ``body`` under ``secret`` (or any of several).

    Compare against the raw body bytes as received. Constant time per secret; a missing,
    empty or malformed signature is ``False``, never an exception. An empty secret (or list)
    is a :class:`~centrepoint_async.ConfigurationError`, as it is for ``WebhookReceiver``.
    """
    return signature_matches(body, signature, check_secrets(secret))


def signature_matches(body: bytes | str, signature: str | None, secrets: Sequence[str]) -> bool:
    """:func:`verify_signature` for secrets already checked by :func:`check_secrets`."""
    if not signature or not isinstance(signature, str):
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    data = body.encode() if isinstance(body, str) else body
    matched = False
    for key in secrets:  # check every secret: the time does not tell which one matched
        expected = hmac.new(key.encode(), data, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, given)
    return matched


@attrs.frozen
class InboundEvent(Generic[P]):
    """One webhook delivery as received.

    ``InboundEvent[cp.UploadEvent]`` is what a handler registered with
    ``@receiver.on(cp.UploadEvent)`` gets; a bare ``InboundEvent`` has any payload.
    """

    name: str  # X-ActiGraph-Event, normalised ("upload")
    webhook_id: int | None  # X-ActiGraph-Webhook-id
    delivery_id: str | None  # X-ActiGraph-Delivery: the same for resends of one delivery
    payload: P  # typed from the body; UnknownEvent if it does not fit, None if empty


def _header_value(value: str | None) -> str | None:
    # documented examples show values like "27," (a trailing comma)
    return value.strip().rstrip(",").strip() if value is not None else None


def parse_event(headers: Mapping[str, str], body: bytes | str) -> InboundEvent:
    """An :class:`InboundEvent` from a delivery's headers (any case) and raw body.

    Never raises: a body that is not JSON or not of its event's shape gives an
    ``UnknownEvent`` payload.
    """
    name, webhook_id, delivery_id = delivery_headers(CIMultiDict(headers))
    return InboundEvent(name, webhook_id, delivery_id, parse_payload(name, body))


def delivery_headers(lookup: Mapping[str, str]) -> tuple[str, int | None, str | None]:
    """The normalised event name, webhook id and delivery id of a delivery's headers.

    ``lookup`` must match names in any case (a ``CIMultiDict``).
    """
    return (
        event_name(lookup.get(EVENT_HEADER) or ""),
        parse_webhook_id(lookup.get(WEBHOOK_ID_HEADER)),
        _header_value(lookup.get(DELIVERY_HEADER)) or None,
    )


def parse_webhook_id(value: str | None) -> int | None:
    """The ``X-ActiGraph-Webhook-id`` header as a number, ``None`` if it is not one."""
    text = _header_value(value)
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None


@attrs.frozen
class Credentials:
    """What a delivery must carry: validated once, at construction (``ConfigurationError``)."""

    secrets: tuple[str, ...] = ()
    basic: tuple[bytes, bytes] | None = None  # UTF-8 user and password
    bearer: bytes | None = None  # UTF-8 token

    @classmethod
    def build(
        cls,
        secret: str | Sequence[str] | None,
        basic_auth: tuple[str, str] | None,
        bearer_token: str | None,
    ) -> Credentials:
        """Check the receiver's credential arguments; every footgun is a ConfigurationError."""
        secrets = check_secrets(secret) if secret is not None else ()
        if basic_auth is not None and bearer_token is not None:
            # CentrePoint sends one Authorization header: both could never pass
            raise ConfigurationError("give basic_auth or bearer_token, not both")
        basic = None
        if basic_auth is not None:
            if not (
                isinstance(basic_auth, tuple)
                and len(basic_auth) == 2
                and all(isinstance(part, str) and part for part in basic_auth)
            ):
                raise ConfigurationError("basic_auth must be a (user, password) of non-empty text")
            if ":" in basic_auth[0]:
                raise ConfigurationError("a Basic user name cannot contain ':' (RFC 7617)")
            basic = (basic_auth[0].encode(), basic_auth[1].encode())
        bearer = None
        if bearer_token is not None:
            if not isinstance(bearer_token, str) or not bearer_token.strip():
                raise ConfigurationError("bearer_token must be a non-empty string")
            if bearer_token != bearer_token.strip():
                raise ConfigurationError("bearer_token cannot start or end with blanks")
            bearer = bearer_token.encode()
        return cls(secrets, basic, bearer)

    @property
    def methods(self) -> list[str]:
        """The checks made, by name (for ``repr`` and logs: never the values)."""
        on = (("hmac", self.secrets), ("basic", self.basic), ("bearer", self.bearer))
        return [name for name, value in on if value]

    def check_authorization(self, headers: Mapping[str, str]) -> None:
        """Raise :class:`ReceiverAuthError` unless the Basic/Bearer credentials match.

        Any malformed header (bad base64, invalid UTF-8, no scheme) is a refusal, never a crash.
        """
        if self.basic is None and self.bearer is None:
            return
        scheme, _, value = CIMultiDict(headers).get("Authorization", "").strip().partition(" ")
        given = _utf8(value.strip())
        if self.basic is not None and not (
            scheme.lower() == "basic" and given is not None and _basic_matches(given, self.basic)
        ):
            raise ReceiverAuthError("missing or wrong Basic credentials")
        if self.bearer is not None and not (
            scheme.lower() == "bearer"
            and given is not None
            and hmac.compare_digest(given, self.bearer)
        ):
            raise ReceiverAuthError("missing or wrong Bearer token")

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise :class:`ReceiverAuthError` unless ``X-ActiGraph-Signature`` signs ``body``."""
        if not self.secrets:
            return
        signature = CIMultiDict(headers).get(SIGNATURE_HEADER)
        if not signature:
            raise ReceiverAuthError("missing X-ActiGraph-Signature")
        if not signature_matches(body, signature, self.secrets):
            raise ReceiverAuthError(f"{SIGNATURE_HEADER} does not match the body")


def is_utf8(text: str) -> bool:
    """Whether header text was valid UTF-8 (both adapters decode header bytes as UTF-8, with
    undecodable bytes kept as lone surrogates, which nothing can store or encode)."""
    return text.isascii() or _utf8(text) is not None


def _utf8(text: str) -> bytes | None:
    # header text may hold lone surrogates (undecodable bytes): a refusal, not a 500
    try:
        return text.encode()
    except UnicodeEncodeError:
        return None


def _basic_matches(credentials: bytes, expected: tuple[bytes, bytes]) -> bool:
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")  # users have no ':' (checked at construction)
    ok_user = hmac.compare_digest(user, expected[0])
    ok_password = hmac.compare_digest(password, expected[1])
    return bool(sep) and ok_user and ok_password

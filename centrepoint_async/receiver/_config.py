"""The receiver's options: one frozen attrs class, each option checked by its validator.

``WebhookReceiver(...)`` builds one; a wrong option is a ``ConfigurationError`` before
anything is served. The defaults are those of ``WebhookReceiver``'s signature (written once,
there, where users read them).
"""

from __future__ import annotations

from typing import Any

import attrs

from .._exceptions import ConfigurationError
from .._protocol import check_number
from ._inbox import Inbox
from ._parse import Credentials

__all__ = ["ReceiverConfig"]


def _count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_number(value, attribute.name, minimum=1, inclusive=True, integer=True)


def _seconds(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_number(value, attribute.name)


def _inbox(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Inbox):
        raise ConfigurationError(f"inbox must implement the Inbox protocol, got {value!r}")


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attribute.name} must be True or False, got {value!r}")


def _seconds_field() -> Any:
    return attrs.field(validator=_seconds)


def _count_field() -> Any:
    return attrs.field(validator=_count)


@attrs.frozen(kw_only=True)
class ReceiverConfig:
    """What a ``WebhookReceiver`` was configured with (``receiver.config``); read-only."""

    credentials: Credentials  # what a delivery must carry (checked by Credentials.build)
    allow_unauthenticated: bool = attrs.field(validator=_flag)  # no credential: on purpose
    inbox: Inbox | None = attrs.field(validator=_inbox)  # None: handlers run before the answer
    max_body_size: int = _count_field()  # bytes; past it 413
    body_timeout: float = _seconds_field()  # seconds to receive a body; past it 408
    handler_timeout: float = _seconds_field()  # no inbox: seconds before a 503 (handler goes on)
    max_running: int = _count_field()  # no inbox: deliveries handled at once; past it 503
    workers: int = _count_field()  # inbox: deliveries handled at once
    attempt_timeout: float = _seconds_field()  # inbox: seconds one attempt may take
    max_attempts: int = _count_field()  # inbox: failed attempts before a dead letter
    retry_delay: float = _seconds_field()  # inbox: first wait before a retry (then doubled)
    max_retry_delay: float = _seconds_field()  # inbox: longest wait before a retry
    lease_seconds: float = _seconds_field()  # inbox: a lease not renewed expires after this
    poll_interval: float = _seconds_field()  # inbox: longest wait between looks for due work
    close_timeout: float = _seconds_field()  # close(): seconds running handlers may finish
    dedupe_retention: float = _seconds_field()  # no inbox: seconds a handled id is remembered
    max_dedupe_bytes: int = _count_field()  # no inbox: bytes of remembered ids

    def __attrs_post_init__(self) -> None:
        if not self.credentials.methods and not self.allow_unauthenticated:
            # WebhookReceiver(secret=os.environ.get("SECRET")) with the variable unset must
            # not quietly accept everyone's deliveries
            raise ConfigurationError(
                "WebhookReceiver has no credential: give secret=, basic_auth= or bearer_token= "
                "(a secret read from an unset environment variable is None), or "
                "allow_unauthenticated=True to accept deliveries from anyone"
            )

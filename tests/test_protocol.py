"""The I/O-free protocol: requests built, answers decoded, errors typed. No server needed."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async import _protocol as proto

URL = "https://api.actigraphcorp.com/centrepoint/v3/Studies"


def test_paths_are_built_from_checked_ids() -> None:
    """Paths follow the documentation; digit strings are accepted as ids."""
    assert proto.history_path(8, "236") == "/centrepoint/v3/Studies/8/Webhooks/236/history"
    assert proto.webhook_path(8, 236) == "/centrepoint/v3/Studies/8/Webhooks/236"
    assert proto.webhooks_path(8) == "/centrepoint/v3/Studies/8/Webhooks"


@pytest.mark.parametrize("bad", [-1, "12/../34", "1 ", 1.5, None, True, "", "٣"])
def test_bad_ids_are_refused_before_any_request(bad: object) -> None:
    """An id that is not a non-negative integer cannot reach a URL path."""
    with pytest.raises(cp.ConfigurationError):
        proto.study_path(bad)


@pytest.mark.parametrize("size", [0, 101, -5, 1.0, "10", True, None])
def test_page_size_outside_1_to_100_is_refused(size: object) -> None:
    """page_size must be an int from 1 to 100."""
    with pytest.raises(cp.ConfigurationError):
        proto.check_page_size(size)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://[::1]:9",
        "http://127.8.9.10",
        "https://x.org/",
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    """https anywhere and plain http to loopback only."""
    assert proto.check_url(url, "base_url") == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://api.actigraphcorp.com", "http://10.0.0.1", "ftp://x", "/relative"]
)
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    """Plain http to a real host would expose the credentials: refused."""
    with pytest.raises(cp.ConfigurationError):
        proto.check_url(url, "base_url")


def test_token_request_is_a_form_post_with_space_separated_scopes() -> None:
    """The token request is form-encoded client credentials; its repr hides the form."""
    request = proto.token_request("https://auth", "id", "s3cret", ["CentrePoint", "DataRetrieval"])
    assert request.method == "POST" and request.url == "https://auth/connect/token"
    assert request.data is not None
    form = parse_qs(request.data.decode())
    assert form == {
        "client_id": ["id"],
        "client_secret": ["s3cret"],
        "grant_type": ["client_credentials"],
        "scope": ["CentrePoint DataRetrieval"],
    }
    assert b"scope=CentrePoint+DataRetrieval" in request.data
    assert "s3cret" not in repr(request)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, cp.BadRequestError),
        (401, cp.AuthenticationError),
        (403, cp.PermissionDeniedError),
        (404, cp.NotFoundError),
        (429, cp.RateLimitError),
        (500, cp.ServerError),
        (503, cp.ServerError),
        (418, cp.APIError),
    ],
)
def test_statuses_map_to_typed_errors(status: int, error: type[cp.APIError]) -> None:
    """Each documented status raises its own error class carrying status, method, URL, body."""
    with pytest.raises(error) as info:
        proto.decode_json(status, {}, b"limit must be between 1 and 100", "GET", URL)
    assert type(info.value) is error
    assert info.value.status == status and info.value.url == URL
    assert info.value.body == "limit must be between 1 and 100"


def test_rate_limit_error_carries_retry_after() -> None:
    """A 429's Retry-After (any header case) becomes retry_after in seconds."""
    with pytest.raises(cp.RateLimitError) as info:
        proto.decode_json(429, {"retry-after": "7"}, b"", "GET", URL)
    assert info.value.retry_after == 7.0


def test_undecodable_success_is_a_decode_error() -> None:
    """A 200 whose body is not JSON raises DecodeError (which the client retries)."""
    with pytest.raises(cp.DecodeError):
        proto.decode_json(200, {}, b'{"items": [', "GET", URL)


def test_error_bodies_are_scrubbed_of_secrets() -> None:
    """A body echoing a secret never carries it into the error."""
    with pytest.raises(cp.APIError) as info:
        proto.decode_json(500, {}, b"bad secret hunter2 here", "GET", URL, ["hunter2"])
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value)


def test_token_answer_is_decoded_with_expiry() -> None:
    """access_token and expires_in give a token valid until now + expires_in."""
    body = b'{"access_token": "abc", "expires_in": 3600, "token_type": "Bearer"}'
    token = proto.decode_token(200, {}, body, "u", ["sec"], now=100.0)
    assert token.access_token == "abc" and token.expires_at == 3700.0
    assert "abc" not in repr(token)


def test_token_refusal_names_the_cause_not_the_secret() -> None:
    """A refused token request is an AuthenticationError naming the OAuth2 error."""
    with pytest.raises(cp.AuthenticationError) as info:
        proto.decode_token(400, {}, b'{"error": "invalid_client"}', "u", ["sec"], now=0)
    assert "invalid_client" in str(info.value) and "sec" not in str(info.value)


def test_page_ignores_links_and_keeps_total_as_a_hint() -> None:
    """A page is read from items; links are ignored; a non-integer totalCount is None."""
    data = {"items": [1, 2], "links": {"next": "/DataRetrieval/v3/x"}, "totalCount": "2"}
    page = proto.decode_page(data, "GET", URL, 0, 100)
    assert page.items == [1, 2] and page.total_count is None
    with pytest.raises(cp.DecodeError):
        proto.decode_page({"items": {}}, "GET", URL, 0, 100)
    with pytest.raises(cp.DecodeError):
        proto.decode_page([1], "GET", URL, 0, 100)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0.5", 0.5),
        ("-1", None),
        ("soon", None),
        ("nan", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    ],
)
def test_retry_after_seconds_or_http_date(value: str | None, seconds: float | None) -> None:
    """Retry-After is read as seconds or as an HTTP date; anything else is None."""
    now = datetime(2015, 10, 21, 7, 27, 50, tzinfo=UTC).timestamp()
    assert proto.parse_retry_after(value, now=now) == seconds


@given(
    st.one_of(
        st.text(), st.integers().map(str), st.datetimes(timezones=st.just(UTC)).map(format_datetime)
    )
)
def test_retry_after_never_raises(value: str) -> None:
    """Any header value gives a non-negative number of seconds or None."""
    result = proto.parse_retry_after(value)
    assert result is None or result >= 0


@given(
    st.integers(100, 599),
    st.dictionaries(st.text(max_size=20), st.text(max_size=20)),
    st.binary(max_size=200),
)
def test_decode_json_raises_only_documented_errors(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    """Any (status, headers, body) decodes or raises a CentrePointError, nothing else."""
    with contextlib.suppress(cp.CentrePointError):
        proto.decode_json(status, headers, body, "GET", URL)


@given(
    st.integers(100, 599),
    st.binary(max_size=200)
    | st.builds(
        orjson.dumps,
        st.dictionaries(
            st.sampled_from(["access_token", "expires_in", "token_type", "error"]),
            st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=10),
        ),
    ),
)
def test_decode_token_raises_only_documented_errors(status: int, body: bytes) -> None:
    """Any token-endpoint answer gives a Token with a future expiry, or a CentrePointError."""
    try:
        token = proto.decode_token(status, {}, body, "https://auth/connect/token", ["s"], now=0.0)
    except cp.CentrePointError:
        return
    assert token.access_token and token.expires_at > 0

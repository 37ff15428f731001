"""The I/O-free protocol: requests built, answers decoded, errors typed. No server needed."""

from __future__ import annotations

import base64
import contextlib
import pickle
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async import _endpoints as ep
from centrepoint_async import _protocol as proto
from centrepoint_async._exceptions import BODY_EXCERPT

URL = "https://api.actigraphcorp.com/centrepoint/v3/Studies"


def test_paths_are_built_from_checked_ids() -> None:
    """Paths follow the documentation; digit strings are accepted as ids."""
    assert ep.HISTORY.fill((8, "236")) == "/centrepoint/v3/Studies/8/Webhooks/236/history"
    assert ep.WEBHOOK.fill((8, 236)) == "/centrepoint/v3/Studies/8/Webhooks/236"
    assert ep.WEBHOOKS.fill((8,)) == "/centrepoint/v3/Studies/8/Webhooks"


@pytest.mark.parametrize("bad", [-1, "12/../34", "1 ", 1.5, None, True, "", "٣"])
def test_bad_ids_are_refused_before_any_request(bad: object) -> None:
    """An id that is not a non-negative integer cannot reach a URL path."""
    with pytest.raises(cp.ConfigurationError):
        ep.STUDY_ONE.fill((bad,))


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "", " ", "a\\b", "x\n", None, 1.5])
def test_text_ids_cannot_carry_path_syntax(bad: object) -> None:
    """A GUID or serial in a path is refused if it could change the path; others are encoded."""
    with pytest.raises(cp.ConfigurationError):
        ep.ACTIVITY_MONITOR.fill((8, bad))
    assert (
        ep.ACTIVITY_MONITOR.fill((8, "TAS 1?"))
        == "/centrepoint/v3/Studies/8/ActivityMonitors/TAS%201%3F"
    )


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


@pytest.mark.parametrize("status", [429, 503, 500, 408])
def test_retry_after_is_read_on_every_retryable_status(status: int) -> None:
    """Retry-After (any header case) becomes retry_after in seconds, on 429 and 5xx alike."""
    with pytest.raises(cp.APIError) as info:
        proto.decode_json(status, {"retry-after": "7"}, b"", "GET", URL)
    assert info.value.retry_after == 7.0
    with pytest.raises(cp.APIError) as info:
        proto.decode_json(status, {}, b"", "GET", URL)
    assert info.value.retry_after is None


def test_undecodable_success_is_a_decode_error_with_url_and_status() -> None:
    """A 200 whose body is not JSON raises DecodeError (retried) naming the URL and status."""
    with pytest.raises(cp.DecodeError) as info:
        proto.decode_json(200, {}, b'{"items": [', "GET", URL)
    assert info.value.url == URL and info.value.status == 200
    assert info.value.__context__ is None


def test_errors_survive_pickling_with_every_attribute() -> None:
    """Errors cross process boundaries (multiprocessing) with status, retry_after, offsets."""
    error = cp.RateLimitError(429, "GET", URL, "slow down", retry_after=3.0)
    error.resume_offset, error.attempts = 200, 4
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(copy) is cp.RateLimitError and str(copy) == str(error)
    assert (copy.retry_after, copy.resume_offset, copy.attempts) == (3.0, 200, 4)
    decode = pickle.loads(pickle.dumps(cp.DecodeError("bad", url=URL, status=200)))  # noqa: S301
    assert (decode.url, decode.status) == (URL, 200)


@pytest.mark.parametrize(
    "spelling",
    [
        "pa ss+w/rd&x=1",
        "pa+ss%2Bw%2Frd%26x%3D1",
        "pa%20ss%2Bw%2Frd%26x%3D1",
        base64.b64encode(b"the-id:pa ss+w/rd&x=1").decode(),
    ],
)
def test_a_secret_is_redacted_in_every_encoding(spelling: str) -> None:
    """Raw, form-encoded (+), percent-encoded (%20) and Basic base64 spellings are all scrubbed."""
    forms = proto.secret_forms(["pa ss+w/rd&x=1"], "the-id")
    body = f"echo: client_secret={spelling}&grant_type=client_credentials".encode()
    with pytest.raises(cp.APIError) as info:
        proto.decode_json(500, {}, body, "POST", URL, forms)
    assert spelling not in str(info.value) and "***" in info.value.body


def test_a_secret_straddling_the_excerpt_cut_is_redacted_whole() -> None:
    """A secret that crosses the BODY_EXCERPT cut leaves not even its first characters."""
    secret = "SECRETSECRETSECRET"
    body = ("x" * (BODY_EXCERPT - 5) + secret).encode()
    text = proto.body_text(body, [secret])
    assert text == "x" * (BODY_EXCERPT - 5) + "***"


def test_urls_with_credentials_are_refused_without_showing_them() -> None:
    """base_url with user:password@ is a ConfigurationError whose text hides the password."""
    with pytest.raises(cp.ConfigurationError) as info:
        proto.check_url("https://user:hunter2@api.example.com", "base_url")
    assert "hunter2" not in str(info.value)
    assert proto.strip_credentials("https://u:p@h/x") == "https://***@h/x"
    for bad in ("https://h:99999", "https://h/a b", "https://h/\r\nX: y", "https://[::1"):
        with pytest.raises(cp.ConfigurationError):
            proto.check_url(bad, "base_url")


def test_header_values_with_control_characters_are_refused() -> None:
    """A token with CR/LF is a ConfigurationError that never shows the value."""
    with pytest.raises(cp.ConfigurationError) as info:
        proto.check_header_value("abc\r\nX-Injected: 1", "token")
    assert "abc" not in str(info.value)
    assert proto.check_header_value("abc.def-ghi", "token") == "abc.def-ghi"


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


def test_a_token_that_cannot_be_a_header_is_a_decode_error() -> None:
    """An access_token holding CR/LF is refused as a DecodeError, not sent (or a ValueError)."""
    body = orjson.dumps({"access_token": "abc\r\nX-Evil: 1", "expires_in": 60})
    with pytest.raises(cp.DecodeError, match="cannot be sent in a header") as info:
        proto.decode_token(200, {}, body, "u", [], now=0)
    assert "abc" not in str(info.value)


def test_page_ignores_links_and_keeps_total_as_a_hint() -> None:
    """A page is read from items; links are ignored; a non-integer totalCount is None."""
    data = {"items": [1, 2], "links": {"next": "/DataRetrieval/v3/x"}, "totalCount": "2"}
    page = proto.decode_page(data, "GET", URL)
    assert page.items == [1, 2] and page.total_count is None
    with pytest.raises(cp.DecodeError):
        proto.decode_page({"items": {}}, "GET", URL)
    with pytest.raises(cp.DecodeError):
        proto.decode_page([1], "GET", URL)


@pytest.mark.parametrize("data", [{}, {"items": None}, {"totalCount": 5}, {"Items": []}])
def test_a_page_without_an_items_list_is_a_decode_error(data: dict[str, object]) -> None:
    """A page with no items list is an error, never an empty page that ends a listing quietly."""
    with pytest.raises(cp.DecodeError) as info:
        proto.decode_page(data, "GET", URL)
    assert info.value.url == URL and info.value.status == 200


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


def test_urls_shown_lose_credentials_secret_parameters_and_secrets() -> None:
    """safe_url drops user:password@, masks sig/token/key values and removes known secrets."""
    url = "https://u:p@blob.example/f.csv?sv=2024&sig=abc%2Bdef&limit=5&x=hunter22"
    shown = proto.safe_url(url, ["hunter22"])
    assert shown == "https://***@blob.example/f.csv?sv=2024&sig=***&limit=5&x=***"
    assert proto.safe_url("https://h/p?offset=0&limit=100") == "https://h/p?offset=0&limit=100"

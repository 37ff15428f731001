"""The models: frozen, plain data, lazily parsed deliveries, a one-way seam to the converter."""

from __future__ import annotations

import ast
import traceback
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async import _protocol as proto
from centrepoint_async._converter import builder, json_name, structure, unstructure
from centrepoint_async._converter._plan import check_plain
from centrepoint_async._deliveries import structure_delivery
from centrepoint_async._models import _Model

PACKAGE = Path(cp.__file__).parent
MODELS = sorted(
    (
        getattr(cp, name)
        for name in cp.__all__
        if isinstance(getattr(cp, name), type) and issubclass(getattr(cp, name), _Model)
    ),
    key=lambda cls: cls.__name__,
)


def minimal(cls: type[Any]) -> dict[str, Any]:
    """The JSON of ``cls`` with its required fields only (its identity: id, serial, ...)."""
    attrs.resolve_types(cls)
    samples = {int: 1, str: "x", datetime: "2024-01-01T00:00:00Z"}
    return {
        json_name(cls, f): samples[f.type] for f in attrs.fields(cls) if f.default is attrs.NOTHING
    }


def test_every_exported_model_is_frozen() -> None:
    """A model handed out can be shared between tasks: no field can be reassigned."""
    assert len(MODELS) >= 20
    for cls in MODELS:
        instance = structure(minimal(cls), cls) if cls is not cp.UnknownEvent else cls()
        for field in attrs.fields(cls):
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                setattr(instance, field.name, getattr(instance, field.name))


def test_lazy_delivery_fields_are_kept_and_frozen_too() -> None:
    """Headers and payload are parsed once, then the same object, and cannot be replaced."""
    delivery = structure_delivery(
        {
            "id": 1,
            "request": {"headers": '{"X-ActiGraph-Event": ["upload"]}', "body": '{"status":"x"}'},
            "response": {"responseCode": 200, "headers": '{"Server": ["nginx"]}', "body": ""},
        }
    )
    request = delivery.request
    assert request.headers is request.headers and request.payload is request.payload
    assert request.payload == cp.UploadEvent(status="x")
    assert delivery.response is not None and delivery.response.headers["server"] == "nginx"
    for name, value in (("headers", request.headers), ("payload", None), ("body", "")):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(request, name, value)


def test_deliveries_are_made_by_hand_as_the_design_names_them() -> None:
    """DeliveryRequest(headers, body, payload) and DeliveryResponse(response_code, headers,
    body): headers as a mapping, a multidict or JSON text, kept in the API's JSON shape."""
    sent = {"X-ActiGraph-Event": "upload", "X-Tag": ["a", "b"]}
    request = cp.DeliveryRequest(sent, '{"uploadId": "5"}')
    assert request.raw_headers == '{"X-ActiGraph-Event":["upload"],"X-Tag":["a","b"]}'
    assert request.headers.getall("x-tag") == ["a", "b"] and request.event_name == "upload"
    assert request.payload == cp.UploadEvent(upload_id=5)
    assert cp.DeliveryRequest(request.headers, request.body) == request  # a multidict, too
    assert cp.DeliveryRequest(request.raw_headers, request.body) == request  # JSON text, too
    assert cp.DeliveryRequest(raw_headers=request.raw_headers, body=request.body) == request
    response = cp.DeliveryResponse(200, {"Server": "nginx"}, "ok")
    assert (response.response_code, response.headers["server"], response.body) == (
        200,
        "nginx",
        "ok",
    )
    assert cp.DeliveryResponse() == cp.DeliveryResponse(None, None, "")


def test_a_payload_made_by_hand_is_kept_and_exported_as_its_json() -> None:
    """A payload without a body is written as its JSON: the delivery exports and reads back.
    A body given too must read as the payload; the event is named when no header names it."""
    event = cp.UploadEvent(upload_id=7, status="ok")
    request = cp.DeliveryRequest({"X-ActiGraph-Event": "upload"}, payload=event)
    assert request.payload is event and request.fallback_event is None  # the header names it
    assert orjson.loads(request.body)["uploadId"] == 7
    delivery = cp.WebhookDelivery(id=1, request=request)
    again = structure(unstructure(delivery), cp.WebhookDelivery)
    assert again == delivery and again.request.payload == event
    same = cp.DeliveryRequest({"X-ActiGraph-Event": "upload"}, request.body, event)
    assert same == request and same.payload is event
    with pytest.raises(ValueError, match="does not read as the payload"):
        cp.DeliveryRequest({"X-ActiGraph-Event": "upload"}, '{"uploadId": 8}', event)
    unnamed = cp.DeliveryRequest(payload=event)  # no header: fallback_event names it
    assert (unnamed.fallback_event, unnamed.event_name) == ("upload", "upload")
    assert cp.DeliveryRequest(body=unnamed.body, fallback_event="upload").payload == event
    unknown = cp.DeliveryRequest(payload=cp.UnknownEvent("brand_new", {"a": 1}))
    assert (unknown.event_name, unknown.body) == ("brand_new", '{"a":1}')


@pytest.mark.parametrize(
    ("headers", "raw"),
    [
        ({"X-A": 1}, None),
        ({"X-A": ["a", None]}, None),
        ({"X-A": {"k": "v"}}, None),  # a dict is not a list of values
        (["X-A", "a"], None),
        ('"not an object"', None),
        ("[1]", None),
        ({}, "{}"),
    ],
)
def test_headers_a_constructor_cannot_keep_are_a_type_error(headers: Any, raw: Any) -> None:
    """Not str values, not a mapping, or both headers and raw_headers: refused, not guessed."""
    with pytest.raises(TypeError):
        cp.DeliveryRequest(headers, raw_headers=raw)
    with pytest.raises(TypeError):
        cp.DeliveryResponse(200, headers, raw_headers=raw)


def test_equal_short_answers_share_one_response_and_long_ones_do_not() -> None:
    """Subscribers answer alike: equal short responses are one frozen object (fewer objects to
    type and for the garbage collector to walk); a long body or a different answer is its own."""

    def delivery(item_id: int, code: Any, body: str) -> cp.WebhookDelivery:
        headers = '{"Server": ["nginx"]}'
        response = {"responseCode": code, "headers": headers, "body": body}
        return structure_delivery({"id": item_id, "response": response})

    first, second = delivery(1, 200, ""), delivery(2, "200", "")
    assert first.response is not None and first.response is second.response
    assert first.response.response_code == 200 and first.response.headers["server"] == "nginx"
    other = delivery(3, 404, "")
    assert other.response is not first.response and other.response is not None
    assert other.response.response_code == 404
    long_a, long_b = delivery(4, 500, "x" * 600), delivery(5, 500, "x" * 600)
    assert long_a.response == long_b.response and long_a.response is not long_b.response
    assert first != second and first.response == second.response


def test_every_model_is_plain_data_for_the_generated_builders() -> None:
    """Builders set slots directly: every model is checked to have nothing that would skip."""
    for cls in MODELS:
        check_plain(cls)


def test_the_guard_refuses_validators_converters_and_post_init() -> None:
    """A model that would need its __init__ to run is refused, not built wrong."""

    @attrs.frozen
    class Validated:
        x: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class Converted:
        x: int = attrs.field(default=0, converter=int)

    @attrs.frozen
    class PostInit:
        x: int = 0

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen(slots=False)
    class NotSlotted:
        x: int = 0

    for cls in (Validated, Converted, PostInit, NotSlotted):
        with pytest.raises(TypeError, match="not a plain slotted model"):
            check_plain(cls)


def test_generated_code_shows_in_tracebacks() -> None:
    """A failure inside a generated builder prints the line of generated source, not '???',
    in a file that names the class."""
    with pytest.raises(ValueError, match="seven") as info:
        builder(cp.UploadEvent)({"uploadId": "seven"})
    text = "".join(traceback.format_exception(info.value))
    assert "<centrepoint_async build centrepoint_async._models.UploadEvent strict>" in text
    assert "in build_UploadEvent" in text
    assert "v = hook_upload_id(v)" in text


def _package_imports(module: str) -> set[str]:
    """The package's modules that ``module`` (a module or a subpackage) imports."""
    path = PACKAGE / f"{module}.py"
    files = [path] if path.exists() else sorted((PACKAGE / module).glob("*.py"))
    found = set()
    for file in files:
        inside = 2 if file.parent != PACKAGE else 1  # "from .. import" leaves a subpackage
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == inside:
                found.add(node.module.split(".")[0])
    return found


def test_imports_point_one_way_models_converter_deliveries() -> None:
    """_models <- _converter <- _deliveries: no cycle, no import inside a function to hide one."""
    assert not {"_converter", "_deliveries"} & _package_imports("_models")
    assert "_deliveries" not in _package_imports("_converter")
    assert {"_converter", "_models"} <= _package_imports("_deliveries")
    files = [PACKAGE / "_models.py", PACKAGE / "_deliveries.py"]
    for file in [*files, *sorted((PACKAGE / "_converter").glob("*.py"))]:
        tree = ast.parse(file.read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            inner = [n for n in ast.walk(function) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not inner, f"{file.name}:{function.name} imports at call time"


# --- round trips -----------------------------------------------------------------------------

texts = st.text(max_size=20)
ids = st.integers(-(2**63), 2**63 - 1)
naive_dates = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1))
dates = st.none() | naive_dates | naive_dates.map(lambda d: d.replace(tzinfo=UTC))
header_values = st.dictionaries(
    st.sampled_from(["X-ActiGraph-Event", "X-ActiGraph-Delivery", "Content-Type", "Via"]),
    st.lists(st.sampled_from(["upload", "validation", "a", "b"]), min_size=1, max_size=3),
    max_size=4,
)
bodies = st.sampled_from(
    ["", "not json", '{"status": "started", "uploadId": "7"}', '{"WebhookId": 74}', "[1]"]
)


@st.composite
def history_items(draw: st.DrawFn) -> dict[str, Any]:
    """A history item as the API sends it, headers as JSON inside a string."""
    item: dict[str, Any] = {
        "id": draw(ids),
        "webhookId": draw(st.none() | ids),
        "webhookEventId": draw(st.none() | ids),
        "webhookEvent": draw(st.none() | st.sampled_from(["upload", "Validation, ", "other"])),
        "createdDate": draw(dates.map(lambda d: d and d.isoformat())),
        "lastSentDate": draw(dates.map(lambda d: d and d.isoformat())),
        "errorMessage": draw(st.none() | texts),
        "request": {
            "headers": orjson.dumps(draw(header_values)).decode(),
            "body": draw(bodies),
        },
    }
    if draw(st.booleans()):
        item["response"] = {
            "responseCode": draw(st.none() | st.integers(100, 599)),
            "headers": orjson.dumps(draw(header_values)).decode(),
            "body": draw(texts),
        }
    return item


@settings(max_examples=200)
@given(history_items())
def test_deliveries_round_trip_through_unstructure(item: dict[str, Any]) -> None:
    """A delivery written back reads back equal, with the same headers and payload."""
    delivery = structure_delivery(item)
    again = structure(unstructure(delivery), cp.WebhookDelivery)
    assert again == delivery
    assert again.request.headers == delivery.request.headers
    assert again.request.payload == delivery.request.payload
    assert again.event_name == delivery.event_name and again.failed == delivery.failed
    orjson.dumps(unstructure(delivery))  # JSON-ready


@settings(max_examples=100)
@given(
    st.builds(
        cp.Webhook,
        id=ids,
        study_id=st.none() | ids,
        url=st.none() | texts,
        created_date=dates,
        is_disabled=st.none() | st.booleans(),
        webhook_events=st.lists(
            st.builds(cp.WebhookEvent, id=ids, name=st.none() | texts), max_size=3
        ).map(tuple),
    )
)
def test_resources_round_trip_through_unstructure(hook: cp.Webhook) -> None:
    """Rule 9 for resources: structure(unstructure(x)) == x, nested lists included."""
    assert structure(unstructure(hook), cp.Webhook) == hook


# --- end to end: the rule for unreadable items, through a real server -------------------------


@pytest.mark.parametrize(
    "bad",
    [{"webhookId": 5}, {"id": "five"}, 7, None],
    ids=["no id", "unreadable id", "a number", "null"],
)
async def test_a_history_item_without_a_readable_id_stops_the_pager_at_it(bad: Any) -> None:
    """The listing stops with a DecodeError whose resume_offset is that item's position."""
    items = [{"id": 1}, {"id": 2}, bad, {"id": 4}]

    async def history(request: web.Request) -> web.Response:
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        page = {"items": items[offset : offset + limit], "totalCount": len(items)}
        return web.json_response(page, status=203 if offset else 200)

    app = web.Application()
    app.router.add_get("/centrepoint/v3/Studies/1/Webhooks/2/history", history)
    async with TestServer(app) as server:
        base_url = str(server.make_url("")).rstrip("/")
        async with cp.CentrePointClient(token="t", base_url=base_url, retry=None) as client:
            pager = client.webhooks.history(1, 2, page_size=2)
            seen = []
            with pytest.raises(cp.DecodeError, match="WebhookDelivery") as info:
                async for delivery in pager:
                    seen.append(delivery.id)
    assert seen == [1, 2] and info.value.resume_offset == 2
    # which answer: the page's URL (as shown) and status, as every DecodeError says
    assert (
        # the second page starts at its anchor, the last item yielded
        info.value.url == f"{base_url}/centrepoint/v3/Studies/1/Webhooks/2/history?limit=2&offset=1"
    )
    assert info.value.status == 203  # that page's own answer


async def test_every_decode_error_says_which_answer_url_and_status() -> None:
    """An answer the SDK cannot read (a model without its id, a page without items, a link
    that is not one) is a DecodeError carrying that answer's URL (as shown) and status."""
    link_path = f"{proto.DATA_RETRIEVAL_PREFIX}/DataFiles/f1/downloadurl"
    answers = {
        "/centrepoint/v3/Studies/1": {"name": "no id"},
        "/centrepoint/v3/Studies": {"totalCount": 3},
        link_path: {"downloadUrl": "ftp://nowhere"},
    }

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(answers[request.path], status=203)

    app = web.Application()
    for path in answers:
        app.router.add_get(path, answer)
    async with TestServer(app) as server:
        base_url = str(server.make_url("")).rstrip("/")
        async with cp.CentrePointClient(token="t", base_url=base_url, retry=None) as client:
            calls: dict[str, Awaitable[Any]] = {
                "/centrepoint/v3/Studies/1": client.studies.get(1),
                "/centrepoint/v3/Studies?limit=100&offset=0": client.studies.list().collect(),
                link_path: client.data_retrieval.download_url("f1"),
            }
            for shown, call in calls.items():
                with pytest.raises(cp.DecodeError) as info:
                    await call
                assert (info.value.url, info.value.status) == (f"{base_url}{shown}", 203)

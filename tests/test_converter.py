"""The converter: documented examples parse to what a reader expects; odd input never raises."""

from __future__ import annotations

import json
import linecache
import traceback
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import hypothesis
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDictProxy

import centrepoint_async as cp
from centrepoint_async._converter import (
    NEVER,
    _headers,
    builder,
    json_name,
    parse_headers,
    parse_payload,
    reader,
    structure,
    unstructure,
)
from centrepoint_async._deliveries import structure_delivery

SAMPLES = Path(__file__).parent / "samples"


EVENTS = {
    "upload_started": ("upload", cp.UploadEvent),
    "upload_completed": ("upload", cp.UploadEvent),
    "upload_error": ("upload", cp.UploadEvent),
    "raw_processing_complete": ("raw_processing_complete", cp.RawProcessingCompleteEvent),
    "data_retrieval_complete": ("data_retrieval_complete", cp.DataRetrievalCompleteEvent),
    "daily_statistics_complete": ("daily_statistics_complete", cp.DailyStatisticsCompleteEvent),
    "cp2_daily_statistics_complete": (
        "cp2_daily_statistics_complete",
        cp.Cp2DailyStatisticsCompleteEvent,
    ),
    "validation": ("validation", cp.ValidationEvent),
}


def seed_items() -> list[dict[str, Any]]:
    page = json.loads((SAMPLES / "seed_history_page.json").read_text())
    items: list[dict[str, Any]] = page["items"]
    return items


def event_sample(stem: str) -> str:
    return (SAMPLES / "events" / f"{stem}.json").read_text()


def test_seed_history_items_parse_as_a_reader_expects() -> None:
    """The documented history example: typed fields, headers in any case, string ids as int."""
    ok, failed = (structure_delivery(item) for item in seed_items())
    assert ok.id == 34 and ok.webhook_id == 236 and ok.webhook_event == "raw_processing_complete"
    assert ok.created_date == datetime(2019, 6, 3, 20, 41, 1)  # no Z: naive, subject-local
    assert ok.request.headers["x-actigraph-event"] == "upload"
    assert ok.request.headers.getall("CONTENT-TYPE") == ["application/json"]
    assert ok.event_name == "upload" and ok.delivery_id == "0f9G3fde-8Baf-0c83-1591-517307kpp19c"
    payload = ok.request.payload
    assert isinstance(payload, cp.UploadEvent)  # the header wins over webhookEvent
    assert payload.upload_id == 362288 and payload.study_id == 8 and payload.subject_id == 2358
    assert payload.first_epoch_utc == datetime(2018, 3, 8, 0, 20)
    assert payload.first_epoch_utc.tzinfo is None
    assert ok.response is not None and ok.response.response_code == 200
    assert ok.response.body == "" and ok.response.headers["server"] == "Apache-Coyote/1.1"
    assert not ok.failed
    assert failed.response is None and failed.failed
    assert failed.error_message is not None and "Failed to resolve domain" in failed.error_message
    assert failed.last_sent_date == datetime(2019, 6, 4, 21, 27)
    assert ok.request.body == seed_items()[0]["request"]["body"]  # verbatim
    assert ok.raw == seed_items()[0]


@pytest.mark.parametrize("stem", sorted(EVENTS))
def test_documented_payloads_round_trip(stem: str) -> None:
    """Every documented payload parses to its class and survives unstructure/structure."""
    name, cls = EVENTS[stem]
    event = parse_payload(name, event_sample(stem))
    assert type(event) is cls
    assert event.extra == {}  # type: ignore[union-attr]
    back = unstructure(event)
    assert structure(back, cls) == event
    original = json.loads(event_sample(stem))
    assert set(original) <= set(back)  # written back under the API's own key names


def test_payload_values_are_typed() -> None:
    """Nested parts, aware UTC datetimes, and the array-for-object quirk all come out typed."""
    daily = parse_payload("daily_statistics_complete", event_sample("daily_statistics_complete"))
    assert isinstance(daily, cp.DailyStatisticsCompleteEvent)
    assert daily.date == datetime(2017, 11, 1, 5, tzinfo=UTC)
    assert daily.epoch_aggregation is not None and daily.epoch_aggregation.wear_minutes == 75.0
    assert daily.freedson_aggregations[0].non_filtered_va_sedentary == 3180
    assert daily.staudenmayer_aggregations[0].non_filtered_mvpa == 2610
    assert daily.mavm_aggregation is not None and daily.mavm_aggregation.non_filtered_steps == 865
    retrieval = parse_payload("data_retrieval_complete", event_sample("data_retrieval_complete"))
    assert isinstance(retrieval, cp.DataRetrievalCompleteEvent)
    assert retrieval.files[1].monitor_serial is None and retrieval.files[0].file_size == 4570
    validation = parse_payload("validation", event_sample("validation"))
    assert validation == cp.ValidationEvent(74, "0b5e6a2c-2f1c-4a51-9d1e-3f2a7c9b8e11")
    cp2 = parse_payload(
        "cp2_daily_statistics_complete", event_sample("cp2_daily_statistics_complete")
    )
    assert isinstance(cp2, cp.Cp2DailyStatisticsCompleteEvent)
    assert cp2.day_stat_id == 1869240 and cp2.cutpoints[0] == cp.BoutCount("Sedentary", 510)
    assert cp2.wear_filtered_mvpa == 2


def test_single_object_where_list_expected_and_null_list() -> None:
    """An aggregation sent as one object becomes a one-item tuple; null lists are empty."""
    body = {
        "id": 1,
        "freedsonAggregations": {"nonFilteredVALight": 5},
        "activityMonitorSerials": None,
    }
    event = parse_payload("daily_statistics_complete", orjson.dumps(body))
    assert isinstance(event, cp.DailyStatisticsCompleteEvent)
    assert event.freedson_aggregations[0].non_filtered_va_light == 5
    assert event.activity_monitor_serials == ()


def test_unknown_keys_are_kept_on_events_and_ignored_on_resources() -> None:
    """New fields never break parsing: events keep them in extra under their own names."""
    event = parse_payload("upload", '{"status": "started", "traceId": "x", "uploadId": "7"}')
    assert event == cp.UploadEvent(status="started", upload_id=7, extra={"traceId": "x"})
    study = structure({"id": "8", "name": "S", "brandNew": [1]}, cp.Study)
    assert study == cp.Study(id=8, name="S")


@pytest.mark.parametrize(
    ("name", "body", "data"),
    [
        ("upload", "<html>oops</html>", "<html>oops</html>"),
        ("upload", '{"uploadId": {"nested": true}}', {"uploadId": {"nested": True}}),
        ("upload", "[1, 2]", [1, 2]),
        ("sleep_score_complete", '{"score": 3}', {"score": 3}),
        (None, '{"a": 1}', {"a": 1}),
    ],
)
def test_misfit_bodies_become_unknown_events(name: str | None, body: str, data: Any) -> None:
    """Not JSON, the wrong shape, or an unknown name: UnknownEvent with what could be read."""
    assert parse_payload(name, body) == cp.UnknownEvent(name or "", data)


def test_empty_body_has_no_payload_and_event_name_tolerates_noise() -> None:
    """An empty body is None; header values like 'upload,' (as documented) still match."""
    assert parse_payload("upload", "") is None
    assert isinstance(parse_payload(" Upload, ", '{"status": "started"}'), cp.UploadEvent)


def test_headers_variants_and_unreadable_headers() -> None:
    """Header values may be lists or plain strings; unreadable text gives empty headers."""
    item = {
        "id": 1,
        "request": {"headers": '{"X-ActiGraph-Event": "upload", "Via": ["a", "b"]}', "body": ""},
        "response": {"responseCode": "500", "headers": "not json", "body": "err"},
    }
    delivery = structure_delivery(item)
    assert delivery.request.headers["x-actigraph-event"] == "upload"
    assert delivery.request.headers.getall("via") == ["a", "b"]
    assert delivery.response is not None and delivery.response.response_code == 500
    assert len(delivery.response.headers) == 0 and delivery.response.raw_headers == "not json"


def test_header_names_keep_their_spelling_and_a_server_inventing_names_grows_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names are kept as sent (looked up in any case); the table of names seen is bounded."""
    monkeypatch.setattr(_headers, "_HEADER_NAMES", {})  # the process's own stays as it was
    long_name = "X-" + "L" * 100
    parse_headers(orjson.dumps({long_name: "v"}).decode())
    assert long_name not in _headers._HEADER_NAMES  # long names are never kept
    names = [f"X-Made-Up-{i}" for i in range(3 * _headers._MAX_HEADER_NAMES)]
    headers = parse_headers(orjson.dumps({name: ["v"] for name in names}).decode())
    assert list(headers.keys()) == names and headers["x-made-up-7"] == "v"
    assert len(_headers._HEADER_NAMES) <= _headers._MAX_HEADER_NAMES
    again = parse_headers('{"x-made-up-7": ["w"], "Content-Type": ["a", 3]}')
    assert list(again.items()) == [
        ("x-made-up-7", "w"),
        ("Content-Type", "a"),
        ("Content-Type", "3"),
    ]


def test_datetimes_with_offsets_become_utc() -> None:
    """An explicit offset is converted to aware UTC; seven fractional digits are accepted."""
    event = parse_payload(
        "raw_processing_complete",
        '{"created_at_utc": "2019-07-19T21:30:28.1234567+02:00", '
        '"min_event_timestamp": "2019-07-19T14:08:58Z"}',
    )
    assert isinstance(event, cp.RawProcessingCompleteEvent)
    assert event.created_at_utc == datetime(2019, 7, 19, 19, 30, 28, 123456, tzinfo=UTC)


def test_repr_stays_short_for_huge_payloads() -> None:
    """A delivery with a megabyte body still has a short repr."""
    body = orjson.dumps({"status": "completed", "uploadId": "1", "blob": "x" * 1_000_000}).decode()
    item = dict(seed_items()[0], request={"headers": "{}", "body": body}, webhookEvent="upload")
    assert len(repr(structure_delivery(item))) < 1000
    assert len(repr(cp.UnknownEvent("x", "y" * 100_000))) < 1000


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
history_keys = st.sampled_from(
    [
        "id",
        "webhookId",
        "webhookEventId",
        "webhookEvent",
        "createdDate",
        "lastSentDate",
        "errorMessage",
        "request",
        "response",
    ]
)


@settings(max_examples=300)
@given(
    st.dictionaries(history_keys, json_values),
    st.dictionaries(st.sampled_from(["headers", "body"]), json_values),
    st.dictionaries(st.sampled_from(["responseCode", "headers", "body"]), json_values),
)
def test_any_json_in_any_history_field_is_read_or_a_decode_error_for_its_id(
    item: dict[str, Any], request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Arbitrary JSON in a history item: typed leniently, or DecodeError only for a bad id;
    the request keeps its body as text, its headers and payload read without raising."""
    try:
        expected_id = structure({"id": item.get("id")}, cp.Study).id
    except cp.DecodeError:
        with pytest.raises(cp.DecodeError, match="id"):
            structure_delivery(item)
        return
    delivery = structure_delivery(item)
    assert delivery.raw is item and delivery.id == expected_id
    delivery = structure_delivery({**item, "request": request, "response": response})
    body = request.get("body")
    assert delivery.request.body == (
        body if isinstance(body, str) else "" if body is None else orjson.dumps(body).decode()
    )
    assert isinstance(delivery.request.headers, CIMultiDictProxy)
    payload = delivery.request.payload
    assert (payload is None) == (delivery.request.body == "")
    assert payload is None or isinstance(payload, (*cp.EVENT_TYPES.values(), cp.UnknownEvent))
    assert delivery.response is not None
    assert isinstance(delivery.response.headers, CIMultiDictProxy)
    try:  # a response code is read as an id is, or left None
        code = structure({"id": response.get("responseCode")}, cp.Study).id
    except cp.DecodeError:
        code = None
    assert delivery.response.response_code == code
    failed = code is None or not 200 <= code < 300 or bool(delivery.error_message)
    assert delivery.failed is failed
    assert len(repr(delivery)) < 2000


@settings(max_examples=300)
@given(
    st.sampled_from([*cp.EVENT_TYPES, "other"]), st.dictionaries(st.text(max_size=25), json_values)
)
def test_any_event_body_is_its_class_fully_typed_or_unknown_with_the_body(
    name: str, body: dict[str, Any]
) -> None:
    """Any JSON object under any event name: its class, every value of its field's type and
    unknown keys in extra, or UnknownEvent holding the body; never an exception."""
    event = parse_payload(name, orjson.dumps(body))
    sent = orjson.loads(orjson.dumps(body))  # as the JSON reads (infinities are null)
    if type(event) is cp.UnknownEvent:
        assert event == cp.UnknownEvent(name, sent)
        return
    assert name in cp.EVENT_TYPES and type(event) is cp.EVENT_TYPES[name]
    assert_typed(event)
    known = {_spelling(f.name) for f in attrs.fields(type(event))}
    unknown = {k: v for k, v in sent.items() if _spelling(k) not in known}
    assert event.extra == unknown  # type: ignore[union-attr]


@given(st.binary(max_size=100))
def test_any_bytes_as_a_body_are_data_not_a_crash(body: bytes) -> None:
    """Bytes that are not UTF-8 or not JSON become UnknownEvent holding their text."""
    event = parse_payload("upload", body)
    if body == b"":
        assert event is None
        return
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        assert event == cp.UnknownEvent("upload", body.decode("utf-8", errors="replace"))
        return
    assert event == cp.UnknownEvent("upload", data) or type(event) is cp.UploadEvent


def test_any_spelling_of_a_key_and_numbers_or_booleans_as_text() -> None:
    """Rule 1 and 3: keys match ignoring case and underscores; text becomes numbers/booleans."""
    study = structure(
        {
            "ID": "8",
            "organization_name": "Org",
            "CreatedDateTime": "2019-06-26T13:34:02.07Z",
            "wear_positions": None,
            "StudyStatus": 5,
        },
        cp.Study,
    )
    assert study == cp.Study(
        id=8,
        organization_name="Org",
        created_date_time=datetime(2019, 6, 26, 13, 34, 2, 70000, tzinfo=UTC),
        study_status="5",
    )
    hook = structure(
        {"Id": 2, "isDisabled": "TRUE", "studyId": 8.0, "webhookEvents": None}, cp.Webhook
    )
    assert hook == cp.Webhook(id=2, study_id=8, is_disabled=True)
    upload = parse_payload("upload", '{"upload_id": " 7 ", "FIRSTEPOCHUTC": "2018-03-08T00:20:00"}')
    assert upload == cp.UploadEvent(upload_id=7, first_epoch_utc=datetime(2018, 3, 8, 0, 20))
    raw = parse_payload("raw_processing_complete", '{"studyId": 5, "subjectId": "6"}')
    assert raw == cp.RawProcessingCompleteEvent(study_id=5, subject_id=6)
    cp2 = parse_payload("cp2_daily_statistics_complete", '{"calories": "75.5", "steps": 12}')
    assert cp2 == cp.Cp2DailyStatisticsCompleteEvent(calories=75.5, steps=12)


def test_unreadable_values_are_none_on_resources_and_unknown_on_events() -> None:
    """Rule 6: a resource keeps its default for a value it cannot read; an event gives up whole."""
    study = structure({"id": "4", "name": {"x": 1}, "createdDateTime": "yesterday"}, cp.Study)
    assert study == cp.Study(id=4)
    assert structure({"id": 3, "isDisabled": "maybe"}, cp.Webhook) == cp.Webhook(id=3)
    nested = {"id": 3, "webhookEvents": [{"id": 1, "name": "upload"}, {"name": "no id"}]}
    assert structure(nested, cp.Webhook) == cp.Webhook(id=3)  # the list it could not read
    event = parse_payload("upload", '{"uploadId": "seven", "status": "started"}')
    assert event == cp.UnknownEvent("upload", {"uploadId": "seven", "status": "started"})
    assert parse_payload("upload", '{"status": true}') == cp.UnknownEvent(
        "upload", {"status": True}
    )


@pytest.mark.parametrize("cls", [cp.Study, cp.WebhookEvent, cp.Webhook, cp.WebhookDelivery])
@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "no id"}, "no 'id'"),
        ({"id": None}, "no 'id'"),
        ({"id": "abc"}, "'id' cannot be read"),
        ({"id": True}, "'id' cannot be read"),
        ([1, 2], "expected an object, got list"),
        (7, "expected an object, got int"),
        ("text", "expected an object, got str"),
        (None, "expected an object, got NoneType"),
    ],
)
def test_a_resource_without_a_readable_id_or_not_an_object_is_a_decode_error(
    cls: type[Any], data: Any, match: str
) -> None:
    """Rule 10 and required ids: one rule for every resource and for typed history items."""
    with pytest.raises(cp.DecodeError, match=match):
        structure(data, cls)


def test_an_id_under_another_spelling_is_found() -> None:
    """The required id is looked for under every spelling, as any other field (rule 1)."""
    assert structure({"ID": "12"}, cp.Study) == cp.Study(id=12)
    assert structure_delivery({"Id": 5}).id == 5


def test_events_keep_ids_optional_and_non_objects_are_unknown() -> None:
    """Event payloads have no required field; a payload that is not an object is data."""
    assert parse_payload("daily_statistics_complete", "{}") == cp.DailyStatisticsCompleteEvent()
    assert parse_payload("upload", "7") == cp.UnknownEvent("upload", 7)
    body = '{"epochAggregation": 5}'
    assert parse_payload("daily_statistics_complete", body) == cp.UnknownEvent(
        "daily_statistics_complete", {"epochAggregation": 5}
    )


def _spelling(key: str) -> str:
    return key.replace("_", "").lower()


def assert_typed(obj: Any) -> None:
    """Every field of a model holds a value of its declared type, nested models included."""
    hints = typing.get_type_hints(type(obj))
    for field in attrs.fields(type(obj)):
        assert_of_type(getattr(obj, field.name), hints[field.name], field.name)


def assert_of_type(value: Any, annotation: Any, where: str) -> None:
    args = typing.get_args(annotation)
    if type(None) in args:
        if value is None:
            return
        annotation = next(a for a in args if a is not type(None))
    origin = typing.get_origin(annotation)
    if origin is tuple:
        assert type(value) is tuple, where
        for item in value:
            assert_of_type(item, typing.get_args(annotation)[0], where)
    elif attrs.has(annotation):
        assert type(value) is annotation, where
        assert_typed(value)
    elif annotation is datetime:
        assert type(value) is datetime and value.tzinfo in (None, UTC), where
    elif origin is not None or annotation is Any:
        assert annotation is Any or isinstance(value, dict), where
    else:
        assert type(value) is annotation, (where, value)


datetime_texts = st.sampled_from(
    [
        "2019-01-03T14:13:00",
        "2019-01-03T14:13:00Z",
        "2019-01-03T14:13:00z",
        "2019-01-03T14:13:00.1234567Z",
        "2019-01-03T14:13:00.9999999",
        "2019-01-03T14:13:00+02:00",
        "2019-01-03T14:13Z",
        "2019-01-03 14:13:00",
        "2019-01-03",
        "2019-01-03T24:00:00",
        "yesterday",
    ]
)
field_values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.integers(-100, 100).map(str)
    | st.sampled_from(["true", "FALSE", " 7 ", "7.0", "1e3"])
    | datetime_texts
)


RIGHT: dict[Any, st.SearchStrategy[Any]] = {
    int: st.integers(-(2**63), 2**63 - 1),
    float: st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
    str: st.text(max_size=5),
    bool: st.booleans(),
    datetime: datetime_texts,
}


def value_of(draw: st.DrawFn, annotation: Any, depth: int) -> Any:
    """Mostly a value of the field's JSON type (so that bodies fit), sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(field_values)
    inner = next(a for a in (*typing.get_args(annotation), annotation) if a is not type(None))
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        if attrs.has(item) and depth >= 2:
            return []
        return [value_of(draw, item, depth + 1) for _ in range(draw(st.integers(0, 2)))]
    if attrs.has(inner):
        return draw(event_bodies(inner, depth + 1)) if depth < 2 else None
    return draw(st.none() | RIGHT[inner])


@st.composite
def event_bodies(draw: st.DrawFn, cls: type[Any], depth: int = 0) -> dict[str, Any]:
    """A body of ``cls``: its own JSON keys (some spelled otherwise), values mostly right."""
    body: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name == "extra" or not draw(st.booleans()):
            continue
        key = json_name(cls, field)
        if draw(st.integers(0, 19)) == 0:
            key = key.upper()  # another spelling
        body[key] = value_of(draw, typing.get_type_hints(cls)[field.name], depth)
    if draw(st.integers(0, 19)) == 0:
        body["brandNewKey"] = draw(field_values)
    return body


@settings(max_examples=400)
@given(st.data())
def test_a_body_near_its_class_reads_by_the_rules_or_whole_as_unknown(data: st.DataObject) -> None:
    """Bodies shaped like their class, values mostly right: the event holds every value of the
    right JSON type as sent (an int in a float field as its float), the rest converted to
    their field's type; or, if one value cannot be read, UnknownEvent with the whole body."""
    name = data.draw(st.sampled_from(sorted(cp.EVENT_TYPES)))
    cls = cp.EVENT_TYPES[name]
    body = data.draw(event_bodies(cls))
    event = parse_payload(name, json.dumps(body))
    if type(event) is cp.UnknownEvent:
        hypothesis.event("unknown event")
        assert event == cp.UnknownEvent(name, orjson.loads(json.dumps(body)))
        return
    hypothesis.event("typed")
    assert type(event) is cls
    assert_typed(event)
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        value = body.get(json_name(cls, field))
        inner = typing.get_args(hints[field.name])[:1] or (hints[field.name],)
        if type(value) is inner[0] and inner[0] in (int, str, bool, float):
            assert getattr(event, field.name) == value, field.name
        elif type(value) is int and inner[0] is float:
            assert getattr(event, field.name) == float(value), field.name


# --- any model the converter has never seen ----------------------------------------------------


@attrs.frozen
class Part:
    """A nested model with a required id (a resource)."""

    id: int
    label: str | None = None


@attrs.frozen
class Gadget:
    """A plain attrs class, not one of the package's models: every field type a model may use."""

    id: int
    name: str | None = None
    weight: float | None = None
    active: bool | None = None
    seen: datetime | None = None
    born: date | None = None
    last_run: datetime | None = attrs.field(default=None, metadata={NEVER: True})
    first_day: date | None = attrs.field(default=None, metadata={NEVER: True})
    tags: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()
    main_part: Part | None = None
    settings: Mapping[str, Any] | None = None
    blob: dict[str, Any] | None = None
    anything: Any = None


GADGET = {
    "id": "9",
    "name": "G",
    "weight": 3,
    "active": "true",
    "seen": "2024-03-05T13:15:37.6848275+00:00",
    "born": "2019-01-01",
    "lastRun": "0001-01-01T00:00:00+00:00",
    "firstDay": "2020-10-05T00:00:00-05:00",
    "tags": ["a", 7],
    "parts": {"id": 1},
    "MainPart": {"id": "2", "label": "x", "new": 1},
    "settings": {"k": [1]},
    "blob": {},
    "anything": [1, "two"],
    "unknown": True,
}


def test_a_model_the_converter_never_saw_is_built_with_no_registration() -> None:
    """Defining a frozen attrs class is enough: every supported field type reads by the rules."""
    gadget = builder(Gadget, lenient=True)(GADGET)
    assert gadget == Gadget(
        id=9,
        name="G",
        weight=3.0,
        active=True,
        seen=datetime(2024, 3, 5, 13, 15, 37, 684827, tzinfo=UTC),
        born=date(2019, 1, 1),
        last_run=None,
        first_day=date(2020, 10, 5),  # the date as written, not moved to UTC
        tags=("a", "7"),
        parts=(Part(1),),
        main_part=Part(2, "x"),
        settings={"k": [1]},
        blob={},
        anything=[1, "two"],
    )
    assert type(gadget.weight) is float and structure(GADGET, Gadget) == gadget
    assert structure(unstructure(gadget), Gadget) == gadget
    assert unstructure(gadget)["born"] == "2019-01-01"


def test_a_new_model_is_lenient_unless_told_and_its_id_is_required() -> None:
    """Lenient: unreadable optional values are None (lists empty); a missing or unreadable id
    is a DecodeError. Strict: the unreadable value raises (a nested part without its id too)."""
    odd = {
        "id": 3,
        "weight": "heavy",
        "born": "someday",
        "settings": [1],
        "parts": [{"label": "no id"}],
        "mainPart": 5,
        "tags": "a",
    }
    assert builder(Gadget, lenient=True)(odd) == Gadget(id=3)
    assert builder(Gadget)(odd) == Gadget(id=3)  # a model is a resource unless it says not
    assert structure({"id": 1, "weight": "heavy"}, cp.Subject) == cp.Subject(id=1)
    for bad, match in (({"name": "x"}, "no 'id'"), ({"id": "x"}, "'id' cannot be read")):
        with pytest.raises(cp.DecodeError, match=match):
            builder(Gadget, lenient=True)(bad)
    for key, value in odd.items():
        if key != "id":
            with pytest.raises((ValueError, cp.DecodeError)):
                builder(Gadget, lenient=False)({"id": 1, key: value})


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00.0000000",
        "0001-01-01 00:00:00",
        "0001-01-01",
        " 0001-01-01T00:00:00-05:00",
    ],
)
def test_the_apis_never_is_none_where_a_field_says_so(text: str) -> None:
    """metadata={NEVER: True}: .NET's minimum date reads as None; other fields keep it."""
    gadget = builder(Gadget)({"id": 1, "lastRun": text, "firstDay": text, "seen": "0001-01-01"})
    assert (gadget.last_run, gadget.first_day) == (None, None)
    assert gadget.seen == datetime(1, 1, 1)
    again = builder(Gadget)({"id": 1, "lastRun": "0001-01-02T00:00:00Z", "firstDay": "0001-01-02"})
    assert (again.last_run, again.first_day) == (datetime(1, 1, 2, tzinfo=UTC), date(1, 1, 2))


def test_a_field_the_converter_cannot_read_is_refused_when_its_builder_is_made() -> None:
    """No silent fallback: an unsupported type, or 'never' on a required field, is a TypeError
    naming the field, before any data is read."""

    @attrs.frozen
    class Union:
        id: int
        value: int | str = 0

    @attrs.frozen
    class Listed:
        values: list[int] = attrs.field(factory=list)

    @attrs.frozen
    class NeverRequired:
        when: datetime = attrs.field(metadata={NEVER: True})

    for cls, name in ((Union, "Union.value"), (Listed, "Listed.values"), (NeverRequired, "when")):
        with pytest.raises(TypeError, match=name):
            builder(cls)


def _twin() -> type[Any]:
    @attrs.frozen
    class Twin:
        id: int

    return Twin


def test_every_builder_has_its_own_source_file_naming_its_class() -> None:
    """Lenient and strict builders, and two classes of the same name, each show their own
    generated source in a traceback, under a file name that says the class."""
    files = [
        builder(Part, lenient=True).__code__.co_filename,
        builder(Part, lenient=False).__code__.co_filename,
        builder(_twin()).__code__.co_filename,
        builder(_twin()).__code__.co_filename,
    ]
    assert len(set(files)) == 4
    assert all(".Part " in f for f in files[:2])
    assert all("_twin.<locals>.Twin" in f for f in files[2:])
    for file in files:
        assert "".join(linecache.getlines(file)).startswith("def build_")
    with pytest.raises(ValueError, match="expected an object") as info:
        builder(_twin(), lenient=False)([1])
    assert "raise not_object(data)" in "".join(traceback.format_exception(info.value))


def test_structure_reads_any_type_the_builders_know() -> None:
    """structure() and reader() take an annotation as well as a model: lists of models,
    optional scalars, dates."""
    assert structure([{"id": "1"}], tuple[cp.Study, ...]) == (cp.Study(id=1),)
    assert reader(int | None)("5") == 5 and reader(int | None)(None) is None
    assert structure("2019-01-01", date) == date(2019, 1, 1)


def test_an_integer_past_64_bits_is_never_read_as_another_integer() -> None:
    """A JSON integer the decoder could only read as a float (past 64 bits) is not turned
    into a nearby int: the event keeps its JSON whole (UnknownEvent) instead."""
    from centrepoint_async._converter import parse_payload

    body = '{"subjectId": -9223372036854775809, "trackingId": "x"}'
    event = parse_payload("data_retrieval_complete", body)
    assert isinstance(event, cp.UnknownEvent)
    exact = parse_payload("data_retrieval_complete", '{"subjectId": 9007199254740992}')
    assert isinstance(exact, cp.DataRetrievalCompleteEvent)
    assert exact.subject_id == 2**53

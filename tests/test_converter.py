"""The converter: documented examples parse to what a reader expects; odd input never raises."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async import _converter
from centrepoint_async._converter import json_name, parse_payload, structure, unstructure
from centrepoint_async._deliveries import structure_delivery

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture(autouse=True, params=["msgspec road", "builders only"])
def payload_road(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs through both roads to a payload: they must give the same."""
    if request.param == "builders only":
        monkeypatch.setattr(_converter, "_FAST_DECODERS", {})
    road: str = request.param
    return road


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
    monkeypatch.setattr(_converter, "_HEADER_NAMES", {})  # the process's own stays as it was
    long_name = "X-" + "L" * 100
    _converter.parse_headers(orjson.dumps({long_name: "v"}).decode())
    assert long_name not in _converter._HEADER_NAMES  # long names are never kept
    names = [f"X-Made-Up-{i}" for i in range(3 * _converter._MAX_HEADER_NAMES)]
    headers = _converter.parse_headers(orjson.dumps({name: ["v"] for name in names}).decode())
    assert list(headers.keys()) == names and headers["x-made-up-7"] == "v"
    assert len(_converter._HEADER_NAMES) <= _converter._MAX_HEADER_NAMES
    again = _converter.parse_headers('{"x-made-up-7": ["w"], "Content-Type": ["a", 3]}')
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
    """Arbitrary JSON in a history item: typed leniently, or DecodeError only for a bad id."""
    try:
        expected_id = structure({"id": item.get("id")}, cp.Study).id
    except cp.DecodeError:
        with pytest.raises(cp.DecodeError, match="id"):
            structure_delivery(item)
        return
    delivery = structure_delivery(item)
    assert delivery.raw is item and delivery.id == expected_id
    delivery = structure_delivery({**item, "request": request, "response": response})
    repr(delivery), delivery.request.headers, delivery.request.payload, delivery.failed


@settings(max_examples=300)
@given(
    st.sampled_from([*cp.EVENT_TYPES, "other"]), st.dictionaries(st.text(max_size=25), json_values)
)
def test_any_event_body_parses_to_an_event(name: str, body: dict[str, Any]) -> None:
    """Any JSON object under any event name parses to some event, never an exception."""
    event = parse_payload(name, orjson.dumps(body))
    assert event is not None


@given(st.binary(max_size=100))
def test_any_bytes_as_a_body_never_raise(body: bytes) -> None:
    """Even bytes that are not UTF-8 are data, not a crash."""
    parse_payload("upload", body)


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


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (a float is not an int, UTC is UTC)."""
    if type(a) is not type(b):
        return False
    if attrs.has(type(a)):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(type(a)))
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return bool(a.keys() == b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, datetime):
        return bool(a == b and a.tzinfo == b.tzinfo and a.utcoffset() == b.utcoffset())
    return bool(a == b)


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
    int: st.integers(-(2**65), 2**65),
    float: st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**65), 2**65),
    str: st.text(max_size=5),
    bool: st.booleans(),
    datetime: datetime_texts,
}


def value_of(draw: st.DrawFn, annotation: Any, depth: int) -> Any:
    """Mostly a value of the field's JSON type (so that bodies fit), sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(field_values)
    inner = _converter._without_none(annotation)
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
        body[key] = value_of(draw, field.type, depth)
    if draw(st.integers(0, 19)) == 0:
        body["brandNewKey"] = draw(field_values)
    return body


@settings(max_examples=400)
@given(st.data())
def test_the_msgspec_road_gives_what_the_builders_give(data: st.DataObject) -> None:
    """Whatever the body, the fast road returns exactly the builders' object, or steps aside."""
    name = data.draw(st.sampled_from(sorted(cp.EVENT_TYPES)))
    body = json.dumps(data.draw(event_bodies(cp.EVENT_TYPES[name])))  # ints past 64 bits too
    expected = _converter._parse_payload(name, body)
    try:
        fast = _converter._fast_decoder(cp.EVENT_TYPES[name])(body)
    except Exception:  # stepped aside: the builders' road answers, as parse_payload does
        event("msgspec stepped aside")
        return
    event("msgspec took it")
    assert same(fast, expected), (fast, expected)


def test_the_msgspec_road_takes_the_common_bodies() -> None:
    """The documented samples of the fast-typed events are taken by msgspec, not refused."""
    for stem in (
        "raw_processing_complete",
        "data_retrieval_complete",
        "daily_statistics_complete",
        "cp2_daily_statistics_complete",
    ):
        name, cls = EVENTS[stem]
        fast: Any = _converter._fast_decoder(cls)(event_sample(stem))
        assert same(fast, _converter._parse_payload(name, event_sample(stem)))

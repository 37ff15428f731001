"""Bare aiohttp callers of the fake (no SDK), shared by the fake's own tests: the fake stays an
oracle checked against the documents, not against the client."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import attrs
import orjson
from yarl import URL

from centrepoint_async.testing import FakeCentrePoint

SCOPES = "CentrePoint Analytics DataRetrieval"
ALL_SCOPES = "CentrePoint Analytics DataAccess DataRetrieval"
STUDY, SUBJECT = 100, 100001
RAW = "/dataretrieval/v3/RawActivityRequests"


class BareApi:
    """A bare aiohttp caller of the fake (no SDK), holding a token of the given scopes."""

    def __init__(self, fake: FakeCentrePoint, session: aiohttp.ClientSession) -> None:
        self.fake, self.session, self.token = fake, session, ""

    async def login(self, scope: str = SCOPES) -> None:
        form = {
            "client_id": self.fake.client_id,
            "client_secret": self.fake.client_secret,
            "grant_type": "client_credentials",
            "scope": scope,
        }
        async with self.session.post(f"{self.fake.url}/connect/token", data=form) as response:
            assert response.status == 200
            self.token = (await response.json())["access_token"]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(
            method, f"{self.fake.url}{path}", data=data, headers=headers
        ) as response:
            raw = await response.read()
            if response.content_type == "application/json":
                return response.status, orjson.loads(raw)
            return response.status, raw.decode()

    async def request_raw(self, subject: int = SUBJECT, **overrides: Any) -> tuple[int, Any]:
        body = {
            "fileFormat": "csv",
            "studyId": STUDY,
            "subjectId": subject,
            "beginTimestampUtc": "2024-01-01T00:00:00Z",
            "endTimestampUtc": "2024-01-02T00:00:00Z",
        } | overrides
        return await self.call("POST", RAW, body)

    async def completed(self, tracking_id: str) -> dict[str, Any]:
        async with asyncio.timeout(30):  # generous: only a hang should end here
            while True:
                status, answer = await self.call("GET", f"{RAW}/{tracking_id}")
                assert status == 200
                if answer["status"] == "completed":
                    result: dict[str, Any] = answer
                    return result
                await asyncio.sleep(0.01)


@attrs.frozen
class Answer:
    """What the fake answered: status, content type, body (JSON decoded, else text)."""

    status: int
    content_type: str
    body: Any


class Api(BareApi):
    """A bare aiohttp caller of the fake (no SDK), holding a token of the given scopes."""

    async def login(self, scope: str = ALL_SCOPES) -> None:
        await super().login(scope)

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = "application/json",
    ) -> Answer:
        """``method path`` (a path with its query as written, or an absolute URL)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type is not None and body is not None:
            headers["Content-Type"] = content_type
        data = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        url = path if path.startswith("http") else f"{self.fake.url}{path}"
        async with self.session.request(
            method, URL(url, encoded=True), data=data, headers=headers
        ) as response:
            raw = await response.read()
            value = (
                orjson.loads(raw) if response.content_type == "application/json" else raw.decode()
            )
            return Answer(response.status, response.content_type, value)

    async def get(self, path: str) -> Any:
        """The JSON of a GET that must succeed."""
        answer = await self.send("GET", path)
        assert answer.status == 200, (path, answer)
        return answer.body

    async def every(self, path: str, limit: int = 100) -> list[dict[str, Any]]:
        """Every item of a listing, page by page (by offset), checking each envelope."""
        items: list[dict[str, Any]] = []
        joiner = "&" if "?" in path else "?"
        while True:
            page = await self.get(f"{path}{joiner}offset={len(items)}&limit={limit}")
            assert set(page) == {"items", "links", "totalCount", "limit", "offset"}
            assert (page["offset"], page["limit"]) == (len(items), limit)
            items += page["items"]
            if len(page["items"]) < limit:
                assert page["totalCount"] == len(items)
                return items

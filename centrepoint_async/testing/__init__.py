"""Testing aids: :class:`FakeCentrePoint`, a real fake CentrePoint server, and its data.

With pytest, the ``centrepoint_fake`` and ``centrepoint_client`` fixtures come from an opt-in
plugin: ``pytest_plugins = ["centrepoint_async.testing.pytest_plugin"]`` in your conftest.py.
:class:`RedisServerProcess` runs a throwaway ``redis-server`` (for ``centrepoint_async.redis``).
"""

from .._retry import set_testing
from ._analytics import MinuteRows
from ._blob import BlobFault, BlobFile, BlobRequest
from ._content import DayFile
from ._data import Dataset
from ._fake import FakeCentrePoint, Fault, RecordedRequest, SentWebhook
from ._policies import fast_retry, serve_app
from ._process import FakeServerProcess, fake_server_process
from ._redis import RedisServerProcess, find_redis_server
from ._study import Span

__all__ = [
    "BlobFault",
    "BlobFile",
    "BlobRequest",
    "Dataset",
    "DayFile",
    "FakeCentrePoint",
    "FakeServerProcess",
    "Fault",
    "MinuteRows",
    "RecordedRequest",
    "RedisServerProcess",
    "SentWebhook",
    "Span",
    "fake_server_process",
    "fast_retry",
    "find_redis_server",
    "serve_app",
    "set_testing",
]

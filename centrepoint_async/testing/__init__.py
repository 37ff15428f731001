"""Testing aids: :class:`FakeCentrePoint`, a real fake CentrePoint server, and its data.

With pytest, the ``centrepoint_fake`` and ``centrepoint_client`` fixtures come from an opt-in
plugin: ``pytest_plugins = ["centrepoint_async.testing.pytest_plugin"]`` in your conftest.py.
"""

from ._data import SEED_HISTORY_ITEMS, SIZES, Dataset, History
from ._fake import FakeCentrePoint, Fault, RecordedRequest
from ._process import FakeServerProcess, fake_server_process

__all__ = [
    "SEED_HISTORY_ITEMS",
    "SIZES",
    "Dataset",
    "FakeCentrePoint",
    "FakeServerProcess",
    "Fault",
    "History",
    "RecordedRequest",
    "fake_server_process",
]

"""The ``centrepoint-async`` command: ``demo``, ``export-history``, ``fetch-raw``, ``fake-server``.

One module per command (``_demo``, ``_export_history``, ``_fetch_raw``, ``_fake_server``),
each a :class:`~centrepoint_async.cli._base.Command` (its parser function and its coroutine);
``_main`` lists them, parses, and turns errors into one line. Adding a command is one module
and one line in ``_main.COMMANDS``. The test fake (``centrepoint_async.testing``) is imported
only by the commands that run it (``demo``, ``fake-server``), when they run.

Exit statuses: 0 done (also ``--resume`` of a finished export: nothing to resume); 1 a data or
server problem (a checkpoint that does not verify, an output another export is writing, the
API failing for good, a listing short of its total with ``--strict``); 2 a usage problem (bad
arguments, missing credentials, an output that exists or cannot be written), always found
before the first request; 130 interrupted.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]

"""``python -m centrepoint_async``: the same as the ``centrepoint-async`` command."""

import sys

from .cli import main

sys.exit(main())

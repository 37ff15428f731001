"""The one place the version is read: the installed distribution's metadata.

``pyproject.toml`` holds the number; ``__version__``, the command line's ``--version`` and the
``User-Agent`` header all come from here, so they can never disagree.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["USER_AGENT", "__version__"]

try:
    __version__: str = version("centrepoint-async")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

#: Sent with every request, so CentrePoint's operators can tell which client version called.
USER_AGENT = f"centrepoint-async/{__version__}"

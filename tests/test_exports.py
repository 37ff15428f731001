"""The public names: what users import from ``centrepoint_async``."""

import subprocess
import sys

import centrepoint_async as cp


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and lists exactly the public names the package exports."""
    assert cp.__all__ == sorted(cp.__all__)
    for name in cp.__all__:  # every name resolves; the lazy ones (InboundEvent) load now
        assert getattr(cp, name) is not None
    public = {n for n in vars(cp) if n.isidentifier() and not n.startswith("_")}
    modules = {"testing", "receiver", "cli", "redis"}
    assert set(cp.__all__) == public - modules


def test_errors_share_one_base() -> None:
    """Every error class derives from CentrePointError; ConfigurationError is a ValueError."""
    errors = [getattr(cp, n) for n in cp.__all__ if n.endswith("Error")]
    assert all(issubclass(e, cp.CentrePointError) for e in errors)
    assert issubclass(cp.ConfigurationError, ValueError)


def _modules_after(code: str) -> set[str]:
    """The modules loaded by a fresh interpreter after running ``code``."""
    script = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_importing_the_client_does_not_load_the_web_server() -> None:
    """``import centrepoint_async`` leaves aiohttp's server stack (and the receiver) unloaded."""
    loaded = _modules_after("import centrepoint_async")
    assert "centrepoint_async._client" in loaded
    assert "aiohttp.web" not in loaded
    assert "centrepoint_async.receiver" not in loaded


def test_receiver_names_load_on_first_use() -> None:
    """``cp.InboundEvent`` and ``from centrepoint_async import InboundEvent`` still work."""
    loaded = _modules_after(
        "from centrepoint_async import InboundEvent\n"
        "from centrepoint_async.receiver import InboundEvent as direct\n"
        "assert InboundEvent is direct"
    )
    assert "centrepoint_async.receiver" in loaded
    assert "aiohttp.web" not in loaded  # the receiver loads no web framework (issue 26.5)


def test_version_comes_from_the_installed_metadata() -> None:
    """``__version__`` and the User-Agent both carry the installed distribution's version."""
    from importlib.metadata import version

    from centrepoint_async import _protocol

    installed = version("centrepoint-async")
    assert cp.__version__ == installed
    request = _protocol.api_request("https://api.example", "/Studies")
    assert request.headers["User-Agent"] == f"centrepoint-async/{installed}"

"""The public names: what users import from ``centrepoint_async``."""

import centrepoint_async as cp


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and lists exactly the public names the package exports."""
    assert cp.__all__ == sorted(cp.__all__)
    public = {n for n in vars(cp) if n.isidentifier() and not n.startswith("_")}
    modules = {"testing", "receiver", "cli", "redis"}
    assert set(cp.__all__) == public - modules


def test_errors_share_one_base() -> None:
    """Every error class derives from CentrePointError; ConfigurationError is a ValueError."""
    errors = [getattr(cp, n) for n in cp.__all__ if n.endswith("Error")]
    assert all(issubclass(e, cp.CentrePointError) for e in errors)
    assert issubclass(cp.ConfigurationError, ValueError)

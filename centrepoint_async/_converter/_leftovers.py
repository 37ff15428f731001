"""The builders' slow pass: the keys the straight line did not take (rules 1, 2, 6).

A generated builder reads every field under its JSON key. When an item has a key it did not
take, or lacks a required field, it hands the item to this pass: keys under another spelling
fill their fields (rule 1), unknown keys go to ``extra`` where the model keeps it (rule 2),
and a required field found nowhere is a :class:`~centrepoint_async.DecodeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._exceptions import DecodeError
from ._keys import normalize
from ._plan import BUILD_ERRORS, FieldPlan, Plan, unreadable
from ._scalars import READ_ERRORS

__all__ = ["leftovers_of"]

Leftovers = Callable[[Mapping[Any, Any], Any], None]


def leftovers_of(plan: Plan) -> Leftovers:
    """The slow pass of ``plan``'s builder: ``leftovers(data, self)``, ``self`` the model's
    mutable twin under construction."""
    cls, lenient, skip = plan.cls, plan.lenient, plan.skip
    by_key = {f.key: f for f in plan.fields}
    by_spelling: dict[str, FieldPlan] = {}
    for f in plan.fields:
        by_spelling[normalize(f.key)] = by_spelling[normalize(f.name)] = f
    required = [f for f in plan.fields if f.required]
    errors = BUILD_ERRORS if lenient else READ_ERRORS

    def leftovers(data: Mapping[Any, Any], self: Any) -> None:
        extra: dict[Any, Any] = {}
        done: set[str] = set()
        for key, value in data.items():
            if key in by_key or key in skip:
                continue  # taken on the straight line (or a null there)
            f = by_spelling.get(normalize(key)) if isinstance(key, str) else None
            if f is None:
                extra[key] = value
            elif value is not None and f.name not in done and data.get(f.key) is None:
                done.add(f.name)  # the first spelling with a value; the API's own wins
                try:
                    converted = f.hook(value)
                except errors:
                    if f.required:
                        raise unreadable(cls, f.name, value) from None
                    if not lenient:
                        raise
                    continue  # rule 6: the default stays
                setattr(self, f.name, converted)
        if plan.has_extra and extra:
            self.extra = extra
        for f in required:
            if f.name not in done and data.get(f.key) is None:
                raise DecodeError(f"{cls.__name__}: no {f.name!r} in the item")

    return leftovers

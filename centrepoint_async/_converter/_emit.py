"""The source of a builder: straight-line code, one block per field of its :class:`Plan`.

The code reads each field under its JSON key with one ``data.get``, keeps a value already of
the field's type, converts the others by the field's hook, and stores it on an instance of the
model's mutable twin (:func:`._plan.mutable_twin`), which becomes the model at the end. Keys it
did not take (other spellings, unknown keys) and missing required fields send the item to the
slow pass (``leftovers``, :mod:`._leftovers`). Names the code uses come from the namespace
:func:`._generate.compile_plan` gives it: per field ``hook_<name>`` and ``default_<name>``.
"""

from __future__ import annotations

from ._plan import FieldPlan, Plan

__all__ = ["emit", "function_name"]


def function_name(plan: Plan) -> str:
    """The builder's name, which says its class in a traceback."""
    return f"build_{plan.cls.__name__}"


def emit(plan: Plan) -> str:
    """The builder's source."""
    lines = [
        f"def {function_name(plan)}(data):",
        "    if type(data) is not dict and not isinstance(data, Mapping):",
        "        raise not_object(data)",
        "    self = new(twin)",
        "    absent = 0",  # keys the straight line reads that the item does not have
        "    missing = False",  # a required field absent or null under its JSON key
    ]
    lines += [f"    if {key!r} not in data: absent += 1" for key in sorted(plan.skip)]
    errors = "BUILD_ERRORS" if plan.lenient else "READ_ERRORS"
    for field in plan.fields:
        lines += _field(field, plan.lenient, errors)
    if plan.has_extra:
        lines.append("    self.extra = {}")
    read = len(plan.fields) + len(plan.skip)
    lines += [
        f"    if missing or len(data) != {read} - absent:",  # another key: another spelling?
        "        leftovers(data, self)",
        "    self.__class__ = cls",
        "    return self",
    ]
    return "\n".join(lines) + "\n"


def _field(f: FieldPlan, lenient: bool, errors: str) -> list[str]:
    """``v`` read, converted (rules 3 to 6) and stored: absent or null, the default."""
    n = f.name
    default = f"default_{n}()" if f.factory else f"default_{n}"
    lines = [f"    v = data.get({f.key!r})", "    if v is None:"]
    if f.required:  # a look at other spellings first, in the slow pass
        lines.append("        missing = True")
    else:
        lines += [f"        self.{n} = {default}", f"        if {f.key!r} not in data: absent += 1"]
    convert = _convert(f)
    if convert and f.required:
        convert = _guarded(convert, errors, f"raise unreadable({n!r}, v) from None")
    elif convert and lenient:  # rule 6: keep the default
        convert = _guarded(convert, errors, f"v = {default}")
    lines.append("    else:")
    return lines + ["        " + line for line in [*convert, f"self.{n} = v"]]


def _convert(f: FieldPlan) -> list[str]:
    """Code making ``v`` (not null) the field's type; values already of it are kept."""
    call = f"    v = hook_{f.name}(v)"  # indented: it runs under a test of ``v``
    if f.kind == "any":
        return []
    if f.kind == "as_is" and f.exact is not None:
        return [f"if type(v) is not {f.exact.__name__}:", call]
    if f.kind == "float":  # JSON numbers of floats are mostly whole: converted inline
        return ["if type(v) is int:", "    v = float(v)", "elif type(v) is not float:", call]
    if f.kind == "datetime":  # the usual text parsed inline, the rest by the hook
        return [*_INLINE_DATETIME, "    v = w", "else:", call]
    return [call.strip()]


def _guarded(code: list[str], errors: str, handler: str) -> list[str]:
    return ["try:", *[f"    {line}" for line in code], f"except {errors}:", f"    {handler}"]


# ``v`` read as the usual ISO 8601 text into ``w`` (else None), then the ``if`` open for when
# that is already parse_datetime's answer (aware UTC or naive). Needs fromisoformat and UTC.
_INLINE_DATETIME = [
    "w = None",
    "if type(v) is str:",
    "    try:",
    "        w = fromisoformat(v)",
    "    except ValueError:",
    "        pass",
    "if w is not None and (w.tzinfo is None or w.tzinfo is UTC):",
]

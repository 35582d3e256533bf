"""How the scenario reference names a pydantic field's type, default and constraints.

Type introspection for :mod:`tools.schema_doc`: an annotation (with ``Annotated`` metadata,
unions, literals, nested models) becomes the words a reader of the reference sees.
"""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


def is_model(t: Any) -> bool:
    """A pydantic model class (a nested section of the reference)."""
    return isinstance(t, type) and issubclass(t, BaseModel)


def union_args(t: Any) -> tuple | None:
    """The members of a union (``X | Y`` or ``Union[X, Y]``), else None."""
    o = get_origin(t)
    if o is Union or o is types.UnionType:
        return get_args(t)
    return None


def strip_annotated(t: Any) -> tuple[Any, str | None]:
    """(annotation without Annotated, discriminator if one was attached)."""
    disc = None
    while get_origin(t) is Annotated:
        args = get_args(t)
        for meta in args[1:]:
            if isinstance(meta, FieldInfo) and meta.discriminator:
                disc = meta.discriminator
        t = args[0]
    return t, disc


def literal_values(t: Any) -> list[str] | None:
    """The allowed values of a ``Literal``, as text, else None."""
    if get_origin(t) is Literal:
        return [str(v) for v in get_args(t)]
    return None


def type_name(t: Any) -> str:
    """The type as a YAML user reads it: number, string, mapping, list of ..., or a union."""
    t, _ = strip_annotated(t)
    if t is type(None):
        return "null"
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if t is Any:
        return "any"
    if literal_values(t) is not None:
        return "string"
    if is_model(t):
        return "mapping"
    args = union_args(t)
    if args is not None:
        names = []
        for a in args:
            n = type_name(a)
            if n not in names:
                names.append(n)
        return " or ".join(names)
    o = get_origin(t)
    if o is dict:
        k, v = get_args(t)
        keys = literal_values(k)
        ks = "/".join(keys) if keys else type_name(k)
        return f"mapping of {ks} to {type_name(v)}"
    if o in (list, tuple):
        args = get_args(t)
        if o is tuple and len(args) == 2 and args[1] is not Ellipsis:
            return f"[{type_name(args[0])}, {type_name(args[1])}]"
        return f"list of {type_name(args[0])}"
    return getattr(t, "__name__", str(t))


def fmt_value(v: Any) -> str:
    """A value as it would be written in YAML (null, true, JSON for containers)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v if not isinstance(v, tuple) else list(v))
    return str(v)


def default_text(info: FieldInfo) -> str:
    """The Default cell: ``required``, the value in backticks, or a pointer to the keys below."""
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    v = info.default if info.default_factory is None else info.default_factory()
    if isinstance(v, BaseModel):
        return "(see keys below)"
    return f"`{fmt_value(v)}`"


#: How each annotated_types bound reads in the Allowed cell.
CONSTRAINT_TEXT = ((at.Gt, "gt", "> {}"), (at.Ge, "ge", ">= {}"), (at.Lt, "lt", "< {}"),
        (at.Le, "le", "<= {}"), (at.MinLen, "min_length", "at least {} item(s)"),
        (at.MaxLen, "max_length", "at most {} item(s)"))


def constraints_text(t: Any, info: FieldInfo) -> str:
    """The Allowed cell: literal choices, allowed keys and numeric or length bounds."""
    parts: list[str] = []
    t, _ = strip_annotated(t)
    lits = literal_values(t)
    if lits is None:
        for a in union_args(t) or ():
            lits = literal_values(strip_annotated(a)[0]) or lits
    if lits is not None:
        parts.append("one of " + ", ".join(f"`{v}`" for v in lits))
    if get_origin(t) is dict:
        keys = literal_values(get_args(t)[0])
        if keys:
            parts.append("keys: " + ", ".join(f"`{k}`" for k in keys))
    for meta in info.metadata:
        for cls, attr, fmt in CONSTRAINT_TEXT:
            if isinstance(meta, cls):
                val = getattr(meta, attr)
                if cls is at.MinLen and t is str:
                    parts.append(f"at least {val} character{'s' if val != 1 else ''}")
                else:
                    parts.append(fmt.format(fmt_value(val)))
    return "; ".join(parts)


def union_variants(t: Any, disc: str | None = None) -> tuple[list[type], str] | None:
    """Model classes of a discriminated union (possibly Optional), and the discriminator."""
    t, d = strip_annotated(t)
    disc = disc or d
    args = union_args(t)
    if args is None:
        return None
    models: list[type] = []
    for a in args:
        a, d = strip_annotated(a)
        disc = disc or d
        if union_args(a):
            res = union_variants(a, disc)
            if res:
                models += res[0]
                disc = res[1]
        elif is_model(a):
            models.append(a)
    if len(models) >= 2 and disc:
        return models, disc
    return None


def variant_tag(cls: type, disc: str) -> str:
    """The discriminator value that selects variant ``cls``."""
    return str(get_args(cls.model_fields[disc].annotation)[0])


def list_item(t: Any) -> Any:
    """The item type of a list or tuple annotation, else None."""
    if get_origin(t) in (list, tuple):
        args = get_args(t)
        if args:
            return args[0]
    return None

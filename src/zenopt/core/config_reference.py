"""The configuration reference, generated from the pydantic models themselves: every key with
its type, default, allowed values and description, so the docs cannot drift from the code (the
docs site's configuration page is this module's markdown; a key without a description fails
the docs tests).

Sections are the nested models of ``RunConfig``; the models a section holds in a list or a
mapping (the compression steps of ``compress.plan``, the searched parameters of ``tune.space``)
get a table of their own.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from zenopt.core.compress_config import STEP_TYPES
from zenopt.core.config import RunConfig
from zenopt.core.markdown_table import cell, code
from zenopt.core.tune_config import ParamSpec

__all__ = ["KeyDoc", "config_keys", "config_markdown", "model_tables", "type_name"]

_BOUNDS: tuple[tuple[type, str, str], ...] = (
    (annotated_types.MinLen, "length ≥", "min_length"),
    (annotated_types.Ge, "≥", "ge"),
    (annotated_types.Gt, ">", "gt"),
    (annotated_types.Le, "≤", "le"),
    (annotated_types.Lt, "<", "lt"),
)


@dataclass(frozen=True)
class KeyDoc:
    """One configuration key as the reference shows it."""

    key: str
    type: str
    default: str
    allowed: str
    description: str


def type_name(annotation: Any) -> str:
    """A type as the reference names it: ``int | null``, ``list of (int | null)``."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return "choice"
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        if all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            return "step (a table below per method)"
        return " | ".join(dict.fromkeys(type_name(a) for a in args))
    if origin is tuple and len(args) > 1 and Ellipsis not in typing.get_args(annotation):
        return f"{len(args)} × {type_name(args[0])}"
    if origin in (list, tuple):
        return f"list of {_grouped(type_name(args[0]))}" if args else "list"
    if origin is dict:
        value = args[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return "mapping (its values: a table below)"
        return f"mapping of {_grouped(type_name(value))}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _grouped(name: str) -> str:
    return f"({name})" if " | " in name else name


def _literals(annotation: Any) -> list[Any]:
    """Every Literal value inside an annotation (a Literal, or a union or list holding one)."""
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    found: list[Any] = []
    for arg in typing.get_args(annotation):
        found += _literals(arg)
    return found


def _allowed(field: FieldInfo) -> str:
    """The Literal values a key takes, and its bounds (``≥ 0``, ``length ≥ 1``)."""
    values = [_yaml(v) for v in _literals(field.annotation)]
    bounds = [
        f"{sign} {getattr(meta, attribute)}"
        for meta in field.metadata
        for kind, sign, attribute in _BOUNDS
        if isinstance(meta, kind)
    ]
    return "; ".join(part for part in (", ".join(values), ", ".join(bounds)) if part)


def _yaml(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return "—" if isinstance(value, BaseModel) else _yaml(value)


def _doc(key: str, field: FieldInfo) -> KeyDoc:
    return KeyDoc(
        key=key,
        type=type_name(field.annotation),
        default=_default(field),
        allowed=_allowed(field),
        description=field.description or "",
    )


def _nested(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def config_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[KeyDoc]:
    """Every key of ``model``, sections first listed then walked (``data.source``, …)."""
    keys: list[KeyDoc] = []
    for name, field in model.model_fields.items():
        keys.append(_doc(prefix + name, field))
        section = _nested(field)
        if section is not None:
            keys += config_keys(section, f"{prefix}{name}.")
    return keys


def model_tables() -> dict[str, list[KeyDoc]]:
    """The tables of the reference: ``RunConfig``'s top level, each section, each compression
    step (``compress.plan[] method: NAME``) and a searched parameter (``tune.space.KEY``)."""
    everything = config_keys()
    sections = [d.key for d in everything if "." not in d.key and d.type == "section"]
    tables = {"top level": [d for d in everything if "." not in d.key]}
    for section in sections:
        tables[section] = [d for d in everything if d.key.startswith(section + ".")]
    for method, step in STEP_TYPES.items():
        tables[f"compress.plan[] (method: {method})"] = config_keys(step, "")
    tables["tune.space.KEY"] = config_keys(ParamSpec, "")
    return tables


def config_markdown() -> str:
    """The reference as Markdown: one table per section, keys in their YAML order."""
    out: list[str] = []
    for title, keys in model_tables().items():
        out += [f"### `{title}`" if title != "top level" else "### Top level", ""]
        out += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
        for d in keys:
            default = d.default if d.default == "—" else f"`{code(d.default)}`"
            cells = (cell(d.type), default, cell(d.allowed), cell(d.description))
            out.append(f"| `{d.key}` | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)

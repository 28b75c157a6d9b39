"""JSON for frozen dataclasses: one walk over the type hints gives to_json, from_json and the JSON Schema.

Why not pydantic or dataclasses.asdict: the files are a contract (DESIGN.md), so the key order is the
field order, a few objects are laid out flat inside their parent (the run facts inside `run`), and the
published schema must come from the same hints the code reads and writes — not from a second description.
Values are never coerced on the way in: an int stays an int, so a file read back writes the same bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar, Union

T = TypeVar("T")
FLAT = {"flat": True}  # field metadata: this dataclass-valued field's keys sit in the parent object
OPTIONAL = {"optional": True}  # field metadata: the key is left out when the value is None (and may be absent)
INTERNAL = {"internal": True}  # field metadata: a value the engine carries along that is not part of the JSON


def sections(kinds: Callable[[], Sequence[type]]) -> dict[str, Any]:
    """Field metadata: a tuple of records, each laid out flat in the parent after the other keys; `kinds` lists every
    type an item may have (read back by the keys present, in the order the file has them)."""
    return {"sections": kinds}


class JsonRecord:
    """Mixin for frozen dataclasses that are written as JSON objects."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object (plain dicts, lists and scalars), keys in field order."""
        return dump(self)

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        """Read back what to_json wrote; a missing or unknown key is a ValueError naming it."""
        return load(cls, data)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _flat(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get("flat"))


def _fields(cls: type) -> list[dataclasses.Field]:
    """The fields that are JSON (internal ones are not)."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _section_types(f: dataclasses.Field) -> Sequence[type] | None:
    kinds = f.metadata.get("sections")
    return None if kinds is None else list(kinds())


def dump(value: Any) -> Any:
    """A value as JSON data: dataclasses by field order (flat fields inlined), enums by value, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in _fields(type(value)):
            item = getattr(value, f.name)
            if _flat(f):
                out.update(dump(item))
            elif _section_types(f) is not None:
                for section in item:
                    out.update(dump(section))
            elif item is None and f.metadata.get("optional"):
                continue
            else:
                out[f.name] = dump(item)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    return value


def _keys(cls: type) -> list[str]:
    """Every JSON key of a dataclass, flat fields expanded."""
    keys: list[str] = []
    for f in _fields(cls):
        kinds = _section_types(f)
        if kinds is not None:
            keys += [k for t in kinds for k in _keys(t)]
        else:
            keys += _keys(_hints(cls)[f.name]) if _flat(f) else [f.name]
    return keys


def load(tp: Any, data: Any, where: str = "$") -> Any:
    """JSON data as the type `tp`; dataclasses must have exactly their keys."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return load(options[0], data, where) if len(options) == 1 else data
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object")
        unknown = set(data) - set(_keys(tp))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
        kwargs = {}
        for f in _fields(tp):
            hint = _hints(tp)[f.name]
            kinds = _section_types(f)
            if kinds is not None:
                kwargs[f.name] = _load_sections(kinds, data, where)
            elif _flat(f):
                kwargs[f.name] = load(hint, {k: data[k] for k in _keys(hint) if k in data}, where)
            elif f.name in data:
                kwargs[f.name] = load(hint, data[f.name], f"{where}.{f.name}")
            elif f.metadata.get("optional"):
                kwargs[f.name] = None
            elif f.default is not dataclasses.MISSING:  # a key added later: older files still load
                kwargs[f.name] = f.default
            else:
                raise ValueError(f"{where}: missing key '{f.name}'")
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if origin in (list, tuple) and data is not None:
        inner = args[0] if args else Any
        items = [load(inner, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return tuple(items) if origin is tuple else items
    if origin is dict and data is not None:
        inner = args[1] if len(args) == 2 else Any
        return {k: load(inner, v, f"{where}.{k}") for k, v in data.items()}
    return data


def _load_sections(kinds: Sequence[type], data: dict[str, Any], where: str) -> tuple[Any, ...]:
    """The sections present in an object, in the order their first keys appear."""
    owner = {k: t for t in kinds for k in _keys(t)}
    found: list[type] = []
    for key in data:
        t = owner.get(key)
        if t is not None and t not in found:
            found.append(t)
    return tuple(load(t, {k: data[k] for k in _keys(t) if k in data}, where) for t in found)


def blank(tp: Any) -> Any:
    """The empty value of a type (None, 0, "", False, [], {}, or a record of empty values): what a key an older file
    did not write reads as. An enum has no empty value: a file without it is not this document."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return None if type(None) in args else blank(args[0])
    if dataclasses.is_dataclass(tp):
        return complete(tp, {})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        raise ValueError(f"no value for {tp.__name__}")
    if origin in (list, tuple) or tp in (list, tuple):
        return []
    if origin is dict or tp is dict:
        return {}
    return {str: "", bool: False, int: 0, float: 0.0}.get(tp)


def complete(tp: Any, data: Any) -> Any:
    """JSON data of type `tp` with every key a newer version added filled with its blank (records nested in lists and
    in sections included), so an older file reads as the current type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return data if data is None or len(options) != 1 else complete(options[0], data)
    if dataclasses.is_dataclass(tp) and isinstance(data, dict):
        out = dict(data)
        for f in _fields(tp):
            hint = _hints(tp)[f.name]
            kinds = _section_types(f)
            if kinds is not None:
                for t in kinds:
                    if any(k in out for k in _keys(t)):
                        out.update(complete(t, {k: out[k] for k in _keys(t) if k in out}))
            elif _flat(f):
                out.update(complete(hint, {k: out[k] for k in _keys(hint) if k in out}))
            elif f.name in out:
                out[f.name] = complete(hint, out[f.name])
            elif not f.metadata.get("optional") and f.default is dataclasses.MISSING:
                try:
                    out[f.name] = blank(hint)
                except ValueError as exc:
                    raise ValueError(f"missing key '{f.name}' ({exc})") from None
        return out
    if origin in (list, tuple) and isinstance(data, list) and args:
        return [complete(args[0], v) for v in data]
    return data


_SCALARS = {str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
            float: {"type": "number"}, type(None): {"type": "null"}}


def schema(tp: Any, defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a type; dataclasses become $defs, referenced by name."""
    top = defs is None
    defs = {} if defs is None else defs
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        out: dict[str, Any] = {"anyOf": [schema(a, defs) for a in args]}
    elif dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: recursion stops here
            props: dict[str, Any] = {}
            required: list[str] = []
            for f in _fields(tp):
                hint = _hints(tp)[f.name]
                kinds = _section_types(f)
                if kinds is not None:  # each section's keys, present only when its lever ran
                    for t in kinds:
                        props.update(_object(t, defs)["properties"])
                elif _flat(f):
                    inner = _object(hint, defs)
                    props.update(inner["properties"])
                    required += inner["required"]
                else:
                    props[f.name] = schema(hint, defs)
                    required += [] if f.metadata.get("optional") else [f.name]
            defs[name] = {"type": "object", "description": (tp.__doc__ or "").strip().splitlines()[0],
                          "properties": props, "required": required, "additionalProperties": False}
        out = {"$ref": f"#/$defs/{name}"}
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        out = {"enum": [m.value for m in tp]}
    elif origin in (list, tuple):
        out = {"type": "array"}
        if args and args[-1] is not Ellipsis and origin is tuple and len(args) > 1:
            out.update(prefixItems=[schema(a, defs) for a in args], minItems=len(args), maxItems=len(args))
        elif args:
            out["items"] = schema(args[0], defs)
    elif origin is dict:
        out = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            out["additionalProperties"] = schema(args[1], defs)
    elif tp is float:
        out = {"type": "number"}
    elif tp in _SCALARS:
        out = dict(_SCALARS[tp])
    else:
        out = {}
    if top and dataclasses.is_dataclass(tp):
        root = defs.pop(tp.__name__)
        used = {name: d for name, d in defs.items() if f'"#/$defs/{name}"' in json.dumps([root, *defs.values()])}
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": used}
    return out


def _object(tp: type, defs: dict[str, Any]) -> dict[str, Any]:
    schema(tp, defs)
    return defs[tp.__name__]


@dataclasses.dataclass(frozen=True)
class SchemaFile:
    """A report file's JSON Schema (ablation.json, tier.json): generated from its result type, shipped as package data
    under promptslim/, and a test checks the two are the same."""

    cls: Any
    version: int
    file: str
    title: str

    def generate(self) -> dict[str, Any]:
        return document_schema(self.cls, self.version, self.file, self.title)

    def shipped(self) -> dict[str, Any]:
        return shipped(self.file)

    def write(self) -> Path:
        """Regenerate the shipped file from the types (run after changing a result type)."""
        return write_shipped(self.file, self.generate())


def document_schema(cls: Any, version: int, file: str, title: str) -> dict[str, Any]:
    """The JSON Schema of a report file (ablation.json, tier.json) generated from its result type."""
    out = schema(cls)
    out["properties"]["schema_version"] = {"const": version}
    out["$id"] = f"https://promptslim.invalid/{file}"
    out["title"] = title
    return out


def shipped(file: str) -> dict[str, Any]:
    """A schema file installed with the package (under promptslim/)."""
    from importlib.resources import files

    return json.loads(files("promptslim").joinpath(file).read_text(encoding="utf-8"))


def write_shipped(file: str, document: dict[str, Any]) -> Path:
    """Regenerate a shipped schema file from the types (run after changing a result type)."""
    path = Path(__file__).resolve().parent / file
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path

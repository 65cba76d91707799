"""JSON round-trips for the model: one generic encoder/decoder instead of one per class.

Decoding checks types as it goes, so a malformed or hand-edited file fails with the path of
the bad value (`vpcs[3].cidr_blocks: expected a list`) rather than a traceback later.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from auditor.errors import InputError
from auditor.model import (
    READABLE_SNAPSHOT_VERSIONS,
    SNAPSHOT_SCHEMA_VERSION,
    Coverage,
    DataProcessed,
    Snapshot,
)

T = TypeVar("T")


# Values that are already JSON, by exact type (an enum that is also an int or str is not).
_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, looked up once
# For a `compact` class (a ClassVar set True: ENIs, which number tens of thousands), its fields'
# defaults: a field at its default is not written, and reads back as the default.
_DEFAULTS: dict[type, dict[str, Any]] = {}
_MISSING = object()


def to_jsonable(value: Any) -> Any:
    """Dataclasses as dicts of their fields, enums as their string, tuples as lists.

    Dispatched on the exact type first: a report holds millions of leaves, dicts and lists.
    """
    kind = type(value)
    if kind in _JSON_LEAVES:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): to_jsonable(v) for k, v in value.items()}
    if kind is list:
        return [to_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.get(kind) or _FIELD_NAMES.setdefault(
            kind, tuple(f.name for f in dataclasses.fields(value))
        )
        if getattr(kind, "compact", False):
            defaults = _DEFAULTS.get(kind) or _DEFAULTS.setdefault(kind, _defaults(value))
            return {
                name: to_jsonable(item)
                for name in names
                if (item := getattr(value, name)) != defaults.get(name, _MISSING)
            }
        return {name: to_jsonable(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def _defaults(value: Any) -> dict[str, Any]:
    """The default of each field that has one (a default factory's value, e.g. [])."""
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


class DecodeError(ValueError):
    pass


def from_jsonable(cls: type[T], data: Any, path: str = "") -> T:
    return typing.cast(T, _decode(cls, data, path or "$"))


def _decode(tp: Any, data: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return data
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, data, path)
            except DecodeError as exc:
                errors.append(str(exc))
        raise DecodeError(errors[0] if errors else f"{path}: unexpected value")
    if origin is list:
        if not isinstance(data, list):
            raise DecodeError(f"{path}: expected a list")
        (item,) = typing.get_args(tp)
        return [_decode(item, v, f"{path}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise DecodeError(f"{path}: expected an object")
        _, item = typing.get_args(tp)
        return {str(k): _decode(item, v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp[str(data).upper()]
        except KeyError:
            raise DecodeError(f"{path}: unknown value {data!r}") from None
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, path)
    if tp is bool:
        if not isinstance(data, bool):
            raise DecodeError(f"{path}: expected true or false")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise DecodeError(f"{path}: expected an integer")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise DecodeError(f"{path}: expected a string")
        return data
    raise DecodeError(f"{path}: cannot decode type {tp!r}")


def _decode_dataclass(cls: Any, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(f"{path}: expected an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise DecodeError(f"{path}: unknown field {unknown[0]!r}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _decode(hints[name], data[name], f"{path}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DecodeError(f"{path}: missing field {name!r}")
    return cls(**kwargs)


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file the user pointed us at; any problem is an InputError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: {what} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    except (ValueError, RecursionError) as exc:  # absurd nesting or number length
        raise InputError(f"{path}: {what} is not valid JSON ({exc})") from None


def read_versioned(path: Path, what: str, key: str, versions: tuple[int, ...]) -> dict[str, Any]:
    """A JSON document of ours: an object with schema_version (one we read) and `key`."""
    return check_versioned(path, read_json(path, what), what, key, versions)


def check_versioned(
    path: Path, data: Any, what: str, key: str, versions: tuple[int, ...]
) -> dict[str, Any]:
    if not isinstance(data, dict) or "schema_version" not in data or key not in data:
        raise InputError(f"{path}: not a vpc-audit {what} (no schema_version/{key})")
    version = data["schema_version"]
    if type(version) is not int or version not in versions:  # true == 1 in Python, not here
        *first, last = (str(v) for v in versions)
        readable = f"{', '.join(first)} and {last}" if first else last
        raise InputError(
            f"{path}: {what} schema_version {data['schema_version']!r} is not supported "
            f"(this vpc-audit reads version{'s' if len(versions) > 1 else ''} {readable})"
        )
    return data


def load_snapshot(path: Path) -> Snapshot:
    data = read_json(path, "snapshot")
    if isinstance(data, dict) and "findings" in data and "summary" in data:
        raise InputError(
            f"{path}: this is a vpc-audit report, not a snapshot: --from-snapshot reads a file "
            "written by --snapshot-out (a report can be given to --baseline)"
        )
    data = check_versioned(path, data, "snapshot", "coverage", READABLE_SNAPSHOT_VERSIONS)
    try:
        # An older snapshot lacks only fields that have defaults; it is re-audited as this version.
        snapshot = from_jsonable(Snapshot, {**data, "schema_version": SNAPSHOT_SCHEMA_VERSION})
        check_values(snapshot, "$")
    except DecodeError as exc:
        raise InputError(f"{path}: malformed snapshot: {exc}") from None
    return snapshot


COVERAGE_STATUSES = ("ok", "error")


def check_values(value: Any, path: str) -> None:
    """What types alone do not catch: every *cidr* field holds CIDRs; coverage is ok or error;
    a NAT gateway's processed bytes are a count (not negative, not absurd).

    Checked on load, so a hand-edited snapshot fails here, naming the value, not deep in a rule."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_values(item, f"{path}[{i}]")
        return
    if not dataclasses.is_dataclass(value):
        return
    for f in dataclasses.fields(value):
        item, where = getattr(value, f.name), f"{path}.{f.name}"
        if "cidr" in f.name:
            for i, cidr in enumerate(item if isinstance(item, list) else [item]):
                if cidr is not None:
                    try:
                        ipaddress.ip_network(cidr, strict=False)
                    except ValueError:
                        at = f"{where}[{i}]" if isinstance(item, list) else where
                        raise DecodeError(f"{at}: {cidr!r} is not a CIDR block") from None
        elif f.name == "status" and isinstance(value, Coverage) and item not in COVERAGE_STATUSES:
            raise DecodeError(f"{where}: {item!r} is not one of {', '.join(COVERAGE_STATUSES)}")
        elif isinstance(value, DataProcessed) and isinstance(item, int) and not 0 <= item < 2**63:
            raise DecodeError(f"{where}: {item} is not a count of bytes or data points")
        else:
            check_values(item, where)

"""Filters on a caller's memories: a checked, bounded boolean expression.

The shape is the one Mem0's clients send (`{"AND": [{"agent_id": "a"}, {"categories": {"in":
["fact"]}}]}`), so that adapter only passes it on. `parse` refuses a filter over the limits of
agent/memory/model/limits.py before reading any of it (counting parts and depth without
recursion), and refuses any value that is not a JSON scalar; what it returns is a small typed
tree whose evaluation costs at most MAX_FILTER_PARTS checks per memory. The service evaluates
it over at most MAX_SCANNED memories it has already read (agent/memory/service.py), in a worker
thread, so its work is bounded and never long on the event loop.

Fields: `user_id`, `agent_id`, `app_id`, `run_id` (a value, `"*"` for any, `{"in": [...]}` or
`{"ne": ...}`), `categories` (a kind, or `{"in"|"contains": [...]}`), `created_at` and
`updated_at` (`{"gte"|"gt"|"lte"|"lt": "YYYY-MM-DD..."}`), `metadata` (fields equal to values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from agent.memory.model.checks import InvalidCorrection
from agent.memory.model.limits import MAX_FILTER_DEPTH, MAX_FILTER_PARTS, MAX_FILTER_VALUES

ENTITIES = ("user_id", "agent_id", "app_id", "run_id")
DATES = ("created_at", "updated_at")
FIELDS = (*ENTITIES, "categories", *DATES, "metadata")
GROUPS = ("AND", "OR", "NOT")
Scalar = str | int | float | bool | None
Op = Literal["eq", "ne", "in", "any", "gte", "gt", "lte", "lt"]
GroupKind = Literal["AND", "OR", "NOT"]


@dataclass(frozen=True)
class Condition:
    """One field compared with one value or a set of values."""

    field: str
    op: Op
    value: Scalar | frozenset[Scalar]


@dataclass(frozen=True)
class Group:
    """AND (all parts), OR (any part) or NOT (no part)."""

    kind: GroupKind
    parts: tuple[Filter, ...]


Filter = Condition | Group


def check_bounds(raw: Any) -> None:
    """Refuse a filter with more than MAX_FILTER_PARTS parts or deeper than MAX_FILTER_DEPTH.

    Iterative and stopping at the first excess: a filter of any size costs at most the limit.
    """
    parts, stack = 0, [(raw, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise InvalidCorrection(f"`filters` nests AND/OR/NOT deeper than {MAX_FILTER_DEPTH} "
                                    "levels: flatten it")
        if not isinstance(node, dict):
            raise InvalidCorrection("each filter must be an object like {\"agent_id\": \"a\"}")
        if len(node) > MAX_FILTER_PARTS:
            raise InvalidCorrection(f"`filters` has more than {MAX_FILTER_PARTS} parts")
        for key, condition in node.items():
            parts += 1
            if parts > MAX_FILTER_PARTS:
                raise InvalidCorrection(f"`filters` has more than {MAX_FILTER_PARTS} parts "
                                        "(conditions and AND/OR/NOT groups): narrow it")
            if key in GROUPS:
                children = condition if isinstance(condition, list) else [condition]
                if len(children) > MAX_FILTER_PARTS:
                    raise InvalidCorrection(f"`{key}` lists {len(children)} filters; at most "
                                            f"{MAX_FILTER_PARTS}")
                stack.extend((child, depth + 1) for child in children)


def parse(raw: Any) -> Filter:
    """The filter `raw` as a typed tree, within every limit (InvalidCorrection says what is wrong)."""
    check_bounds(raw)
    return _parse(raw)


def _parse(raw: dict[str, Any]) -> Filter:
    parts: list[Filter] = []
    for key, condition in raw.items():
        if key in GROUPS:
            if key != "NOT" and not isinstance(condition, list):
                raise InvalidCorrection(f"`{key}` takes a list of filters")
            children = condition if isinstance(condition, list) else [condition]
            parts.append(Group(cast(GroupKind, key), tuple(_parse(child) for child in children)))
        elif key in ENTITIES:
            parts.append(_entity(key, condition))
        elif key in DATES:
            parts.append(_date(key, condition))
        elif key == "categories":
            parts.append(_categories(condition))
        elif key == "metadata":
            parts.append(_metadata(condition))
        else:
            raise InvalidCorrection(f"unsupported filter {key!r}: filter on {list(FIELDS)} with "
                                    "AND, OR and NOT")
    return parts[0] if len(parts) == 1 else Group("AND", tuple(parts))


def _scalar(value: Any, where: str) -> Scalar:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise InvalidCorrection(f"`{where}` must be a string, a number, true, false or null")
    if isinstance(value, str) and len(value) > 500:
        raise InvalidCorrection(f"`{where}` is longer than 500 characters")
    return value


def _values(value: Any, where: str) -> frozenset[Scalar]:
    values = value if isinstance(value, list) else [value]
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidCorrection(f"`{where}` lists {len(values)} values; at most "
                                f"{MAX_FILTER_VALUES}")
    return frozenset(_scalar(v, where) for v in values)


def _entity(field: str, condition: Any) -> Condition:
    if condition == "*":
        return Condition(field, "any", None)
    if isinstance(condition, dict):
        if set(condition) == {"in"} and isinstance(condition["in"], list):
            return Condition(field, "in", _values(condition["in"], f"{field}.in"))
        if set(condition) == {"ne"}:
            return Condition(field, "ne", _scalar(condition["ne"], f"{field}.ne"))
        raise InvalidCorrection(f"unsupported condition on `{field}`: use a value, '*', "
                                "{'in': [...]} or {'ne': ...}")
    return Condition(field, "eq", _scalar(condition, field))


def _date(field: str, condition: Any) -> Filter:
    if not isinstance(condition, dict) or not condition or \
            not set(condition) <= {"gte", "gt", "lte", "lt"}:
        raise InvalidCorrection(f"`{field}` takes {{'gte'|'gt'|'lte'|'lt': 'YYYY-MM-DD...'}}")
    bounds: list[Filter] = []
    for op, value in condition.items():
        if not isinstance(value, str) or len(value) > 40:
            raise InvalidCorrection(f"`{field}.{op}` must be a date like '2026-12-07'")
        bounds.append(Condition(field, op, value))
    return bounds[0] if len(bounds) == 1 else Group("AND", tuple(bounds))


def _categories(condition: Any) -> Condition:
    if isinstance(condition, dict):
        if len(condition) != 1 or not set(condition) <= {"in", "contains"}:
            raise InvalidCorrection("`categories` takes a kind, or {'in'|'contains': [...]}")
        condition = next(iter(condition.values()))
    return Condition("categories", "in", _values(condition, "categories"))


def _metadata(condition: Any) -> Filter:
    if not isinstance(condition, dict) or not condition:
        raise InvalidCorrection("`metadata` filters on fields equal to values: {\"field\": "
                                "\"value\"}")
    equal = [Condition(f"metadata.{key}", "eq", _scalar(value, f"metadata.{key}"))
             for key, value in condition.items()]
    return equal[0] if len(equal) == 1 else Group("AND", tuple(equal))


def matches(where: Filter, fields: Mapping[str, Any]) -> bool:
    """Whether a memory's `fields` (service.filter_fields) pass `where`."""
    if isinstance(where, Group):
        results = (matches(part, fields) for part in where.parts)
        if where.kind == "AND":
            return all(results)
        return any(results) if where.kind == "OR" else not any(results)
    if where.field.startswith("metadata."):
        metadata = fields.get("metadata")
        value = metadata.get(where.field[9:]) if isinstance(metadata, dict) else None
    else:
        value = fields.get(where.field)
    return _compare(where, value)


def _compare(condition: Condition, value: Any) -> bool:
    wanted = condition.value
    if condition.field == "categories":
        kinds = value if isinstance(value, list) else [value]
        return isinstance(wanted, frozenset) and any(kind in wanted for kind in kinds)
    match condition.op:
        case "any":
            return value is not None
        case "eq":
            return bool(value == wanted)
        case "ne":
            return bool(value != wanted)
        case "in":
            return isinstance(wanted, frozenset) and _hashable(value) and value in wanted
    text, bound = str(value or ""), str(wanted)
    if condition.op == "lte":
        return text[:len(bound)] <= bound  # a date bound includes the whole day it names
    return {"gte": text >= bound, "gt": text > bound, "lt": text < bound}[condition.op]


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)

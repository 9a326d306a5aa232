"""Pydantic's validation errors as :class:`~siyu.errors.FieldProblem` lists with readable paths, for
the tree-shaped documents people write by hand (segment definitions, journeys)."""

from __future__ import annotations

import re
from collections.abc import Callable, Container

from pydantic import ValidationError

from siyu.errors import FieldProblem, InvalidInput

_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|(list|dict|union|tuple|literal)\[.*\])$")


def field_path(loc: tuple[int | str, ...], field_prefix: str, union_tags: Container[str]) -> str:
    """Pydantic's location as a path (``root.children[0].value``): list indexes in brackets, and the
    tags of tagged unions (``union_tags``, or the type tried) left out, since they are not fields."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in union_tags or item.startswith("function-") or _TYPE_TAG.match(item):
            continue
        else:
            parts.append(item)
    return ".".join([field_prefix, *parts]) if field_prefix else ".".join(parts)


def invalid_input(
    exc: ValidationError,
    field_prefix: str,
    union_tags: Container[str],
    *,
    tag_name: str | Callable[[tuple[int | str, ...]], str],
    tag_values: Callable[[tuple[int | str, ...]], str],
    path_of: Callable[[tuple[int | str, ...]], str] | None = None,
) -> InvalidInput:
    """One problem per path (a value that fits none of a union's types is one problem, not one per
    type). ``tag_name`` (``op``, ``type``, or a function of the error's location) and ``tag_values``
    (a function of the location) word the reasons for a missing or unknown tag; ``path_of`` replaces
    :func:`field_path` where a document's keys may look like tags (a journey's node ids)."""
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        reason = str(error["msg"]).removeprefix("Value error, ")
        tag = tag_name if isinstance(tag_name, str) else tag_name(loc)
        if error["type"] == "union_tag_invalid":
            reason = f"unknown {tag}; use one of {tag_values(loc)}"
        elif error["type"] == "union_tag_not_found":
            reason = f"every node needs {'an' if tag[0] in 'aeiou' else 'a'} {tag}"
        path = path_of(loc) if path_of else field_path(loc, field_prefix, union_tags)
        if path not in seen:
            seen.add(path)
            problems.append(FieldProblem(path, reason))
    first = problems[0]
    return InvalidInput(detail=f"{first.field}: {first.reason}", errors=problems)

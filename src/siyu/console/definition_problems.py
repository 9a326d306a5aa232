"""A refused definition (or tier settings) as problems by node path, reasons translated, JSON that does not parse."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from siyu.console.access import Page
from siyu.console.i18n import N_
from siyu.errors import FieldProblem, SiyuError


@dataclass(frozen=True)
class NodeProblem:
    """A problem with a definition: the node path it is about (``root.children[1].value``) and why."""

    path: str
    message: str


_REASONS: Final[dict[str, str]] = {
    "Field required": N_("Required"),
    "every node needs an op": N_("Every condition needs an op"),
    "name at least one cell or score": N_("Choose at least one cell or score"),
    "List should have at least 1 item after validation, not 0": N_("Add at least one condition"),
    "an event name: snake_case, starting with a letter": N_(
        "An event name: lower-case letters, digits and _, starting with a letter"
    ),
    "max_count must be at least min_count": N_("The maximum must be at least the minimum"),
    "between needs low ≤ high": N_("The lower bound must not be above the upper bound"),
    "a number is needed": N_("Enter a number"),
    "a date (YYYY-MM-DD) is needed": N_("Enter a date (YYYY-MM-DD)"),
    "Extra inputs are not permitted": N_("Unknown field"),
    "Input should be a valid integer": N_("Enter a whole number"),
    "Input should be a valid integer, unable to parse string as an integer": N_("Enter a whole number"),
    "Input should be a valid integer, got a number with a fractional part": N_("Enter a whole number"),
    "Input should be a valid number": N_("Enter a number"),
    "Input should be a valid number, unable to parse string as a number": N_("Enter a number"),
    "Input should be a valid list": N_("Enter a list: [...]"),
    "Input should be a valid tuple": N_("Enter a list: [...]"),
    "Input should be a valid dictionary or object to extract fields from": N_("Enter a JSON object: {…}"),
    "Input should be a valid boolean": N_("Enter true or false"),
}
_REASON_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"^no tag (?P<id>\d+) \(deleted\?\)$"), N_("Tag #%(id)s does not exist (deleted?)")),
    (re.compile(r"^no segment (?P<id>\d+) \(deleted\?\)$"), N_("Segment #%(id)s does not exist (deleted?)")),
    (
        re.compile(r"^no property '(?P<key>[^']+)' in the catalogue \(deleted\?\)$"),
        N_("The property %(key)s is not in the catalogue (deleted?)"),
    ),
    (
        re.compile(r"^segments may not include each other in a circle: (?P<path>.+)$"),
        N_("Segments may not include each other in a circle: %(path)s"),
    ),
    (
        re.compile(r"^(?P<cmp>\w+) compares numbers or dates, not a (?P<kind>\w+)$"),
        N_("This comparison needs a number or date field"),
    ),
    (re.compile(r"^(?P<cmp>\w+) needs a value$"), N_("Enter a value")),
    (re.compile(r"^unknown op; use one of (?P<ops>.+)$"), N_("Unknown condition type (op); use one of %(ops)s")),
    (re.compile(r"^Input should be less than or equal to (?P<n>[\d.]+)$"), N_("At most %(n)s")),
    (re.compile(r"^Input should be greater than or equal to (?P<n>[\d.]+)$"), N_("At least %(n)s")),
    (re.compile(r"^Input should be greater than (?P<n>[\d.]+)$"), N_("Must be more than %(n)s")),
    (re.compile(r"^Input should be less than (?P<n>[\d.]+)$"), N_("Must be less than %(n)s")),
)


def reason_text(page: Page, reason: str) -> str:
    """A definition problem's reason in the page's language, as the service wrote it when unknown."""
    known = _REASONS.get(reason)
    if known:
        return page.gettext(known)
    for pattern, message in _REASON_PATTERNS:
        found = pattern.match(reason)
        if found:
            return page.gettext(message, **found.groupdict())
    return reason


def node_problems(page: Page, exc: SiyuError, prefix: str = "definition") -> list[NodeProblem]:
    """A refused definition as problems by node path (``definition.root.children[0]`` → ``root.children[0]``)."""
    problems: list[FieldProblem] = exc.errors or [FieldProblem(prefix, exc.detail)]
    out = []
    for problem in problems:
        path = problem.field
        if path == prefix:
            path = ""
        elif path.startswith(prefix + "."):
            path = path[len(prefix) + 1 :]
        out.append(NodeProblem(path, reason_text(page, problem.reason)))
    return out


def parse_json_object(
    page: Page, text: str, what: str = "definition"
) -> tuple[dict[str, Any] | None, list[NodeProblem]]:
    """``text`` as a JSON object, or the problem with it (line and column)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        message = page.gettext(
            N_("Not valid JSON: line %(line)s, column %(column)s"), line=exc.lineno, column=exc.colno
        )
        return None, [NodeProblem("", message)]
    if not isinstance(value, dict):
        return None, [NodeProblem("", page.gettext(N_("Enter a JSON object: {…}")))]
    return value, []

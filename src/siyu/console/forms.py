"""Console forms: turning validation and service errors into messages shown next to the field they
are about, in the page's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pydantic import ValidationError

from siyu.console.access import Page
from siyu.console.i18n import N_
from siyu.errors import SiyuError

# Pydantic error types → what an operator reads. Unknown types fall back to pydantic's own text.
_VALIDATION_MESSAGES: Final[dict[str, str]] = {
    "missing": N_("Required"),
    "string_too_short": N_("Too short"),
    "string_too_long": N_("Too long"),
    "too_short": N_("Choose at least one"),
    "enum": N_("Choose one of the options"),
    "literal_error": N_("Choose one of the options"),
    "string_pattern_mismatch": N_("Choose one of the options"),
    "datetime_parsing": N_("Enter a valid date and time"),
    "datetime_from_date_parsing": N_("Enter a valid date"),
    "int_parsing": N_("Enter a whole number"),
}

# Field-specific wording for custom validators (``value_error``), whose message is free text.
_FIELD_MESSAGES: Final[dict[str, str]] = {
    "email": N_("Enter a valid e-mail address"),
    "timezone": N_("Unknown time zone; use a name such as Asia/Shanghai"),
}

_TOO_SHORT_FIELDS: Final[dict[str, str]] = {
    "password": N_("Must be at least 10 characters"),
}

# Reasons given by the services, by their exact English text. A reason not listed here is shown as
# the service wrote it, which is still correct, only not translated.
_SERVICE_REASONS: Final[dict[str, str]] = {
    "required for a new operator": N_("Required for someone who has no account yet"),
    "must be at least 10 characters": N_("Must be at least 10 characters"),
    "a workspace keeps at least one owner": N_("A workspace keeps at least one owner"),
    "only an owner can make owners": N_("Only an owner can make someone an owner"),
    "only an owner can change an owner": N_("Only an owner can change an owner"),
    "only an owner can remove an owner": N_("Only an owner can remove an owner"),
    "only someone who may see unmasked personal data can grant it": N_(
        "Only someone who may see unmasked personal data can grant it"
    ),
    "must be in the future": N_("Must be in the future"),
    "must include a time zone": N_("Enter a valid date and time"),
    "may not be null": N_("Required"),
}


@dataclass
class FormErrors:
    """Messages for a form: by field name, and those about the form as a whole."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def summary(self) -> str:
        """Every message on one line, for forms too small to show them field by field."""
        return "; ".join([*self.fields.values(), *self.general])

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def add(self, name: str | None, message: str) -> None:
        if name and name not in self.fields:
            self.fields[name] = message
        elif not name:
            self.general.append(message)


def from_validation(page: Page, exc: ValidationError) -> FormErrors:
    errors = FormErrors()
    for problem in exc.errors():
        loc = problem.get("loc", ())
        name = str(loc[0]) if loc else None
        kind = str(problem.get("type", ""))
        if kind == "string_too_short" and name in _TOO_SHORT_FIELDS:
            message = page.gettext(_TOO_SHORT_FIELDS[name])
        elif kind in _VALIDATION_MESSAGES:
            message = page.gettext(_VALIDATION_MESSAGES[kind])
        elif name in _FIELD_MESSAGES:
            message = page.gettext(_FIELD_MESSAGES[name])
        else:
            message = str(problem.get("msg", kind))
        errors.add(name, message)
    return errors


def from_service(page: Page, exc: SiyuError, *, default_field: str | None = None) -> FormErrors:
    """A refused service call as form messages: on the field it names, else on ``default_field``."""
    errors = FormErrors()
    if exc.errors:
        for problem in exc.errors:
            errors.add(problem.field, _reason(page, problem.reason))
        return errors
    named = exc.extra.get("field")
    errors.add(str(named) if named else default_field, _reason(page, exc.detail))
    return errors


def _reason(page: Page, reason: str) -> str:
    if reason.endswith(" is already a member"):
        return page.gettext(N_("This person is already a member"))
    if reason.startswith("a token cannot have scopes you lack"):
        return page.gettext(N_("A token cannot have permissions you do not have"))
    known = _SERVICE_REASONS.get(reason)
    return page.gettext(known) if known else reason

"""Masking of personal data (SPEC C12) for callers who may not, or did not ask to, see it in full.

Phone numbers keep their first three and last four digits (``138****8000``), e-mail addresses their
first character and domain (``a***@x.com``), names their first character (``张*``). Other identity values
(openids, buyer ids) are pseudonymous already and are shown as stored.
"""

from __future__ import annotations

from siyu.identity.keys import PERSONAL, IdentityKind


def mask_phone(value: str) -> str:
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local:
        return "***"
    # Always three stars: the mask should not tell how long the address is.
    return f"{local[0]}***@{domain}"


def mask_name(value: str) -> str:
    if len(value) <= 1:
        return "*"
    return value[0] + "*" * min(len(value) - 1, 3)


def mask_identity(kind: str, value: str) -> str:
    if kind == IdentityKind.phone:
        return mask_phone(value)
    if kind == IdentityKind.email:
        return mask_email(value)
    return value


def is_personal(kind: str) -> bool:
    return kind in PERSONAL

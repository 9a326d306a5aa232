from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from siyu.auth.permissions import Permission, Role
from siyu.kit.inputs import Text

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# Deliberately loose: self-hosted brands sign in with internal domains (ops@brand.local) too.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)*$")


def _check_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[str, AfterValidator(_check_email)]


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown IANA time zone, e.g. Asia/Shanghai") from None
    return value


class WorkspaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    timezone: str
    locale: str
    created_at: datetime


class WorkspaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    locale: str | None = Field(default=None, pattern=r"^(zh_CN|en)$")

    _tz = field_validator("timezone")(lambda cls, v: None if v is None else _check_timezone(v))


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=SLUG.pattern)
    name: Text = Field(min_length=1, max_length=200)
    timezone: str = "Asia/Shanghai"
    locale: str = Field(default="zh_CN", pattern=r"^(zh_CN|en)$")

    _tz = field_validator("timezone")(lambda cls, v: _check_timezone(v))


class MemberOut(BaseModel):
    id: int
    operator_id: int
    email: str
    display_name: str
    role: Role
    can_unmask_pii: bool
    disabled: bool
    created_at: datetime


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    display_name: Text = Field(min_length=1, max_length=200)
    role: Role
    can_unmask_pii: bool = False
    password: str | None = Field(
        default=None,
        min_length=10,
        max_length=200,
        description="Initial password; required when the e-mail has no operator yet.",
    )


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    can_unmask_pii: bool | None = None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[Permission]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    scopes: list[Permission] = Field(min_length=1)
    expires_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown once; store it now.")

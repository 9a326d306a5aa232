"""API shapes of the contact domain: contact lists and profiles, timelines, merges, and the reference
data (property catalogue, channel codes, staff). Inputs forbid unknown fields."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from siyu.contact.properties import MAX_OPTION, PROPERTY_KEY, WITH_OPTIONS, PropertyType
from siyu.kit.inputs import RowId, Text

# Columns of the contact itself: a custom property with one of these names would be ambiguous in
# segment filters and imports.
RESERVED_KEYS: Final = frozenset(
    {
        "id",
        "nickname",
        "name",
        "gender",
        "birthday",
        "region",
        "first_source",
        "first_channel_code",
        "owner_staff",
        "owner_staff_id",
        "created_at",
        "updated_at",
        "last_seen_at",
        "merged_into_id",
        "properties",
        "identities",
        "consent",
        "tags",
        "workspace_id",
    }
)
# WeCom's add_contact_way takes a ``state`` of at most 30 characters.
CHANNEL_STATE: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,30}$")
STAFF_USERID: Final = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _property_key(value: str) -> str:
    if not PROPERTY_KEY.match(value):
        raise ValueError("lower-case letters, digits and _, starting with a letter, at most 64 characters")
    if value in RESERVED_KEYS:
        raise ValueError("is a built-in contact field")
    return value


def _state(value: str) -> str:
    if not CHANNEL_STATE.match(value):
        raise ValueError("letters, digits and _ . : - only, at most 30 characters (WeCom's limit)")
    return value


def _userid(value: str) -> str:
    if not STAFF_USERID.match(value):
        raise ValueError("letters, digits and _ . @ - only, at most 64 characters")
    return value


PropertyKey = Annotated[str, AfterValidator(_property_key)]
ChannelState = Annotated[str, AfterValidator(_state)]
StaffUserid = Annotated[str, AfterValidator(_userid)]


# --- contacts ---------------------------------------------------------------------------------


class StaffRef(BaseModel):
    id: int
    userid: str
    name: str


class ContactSummary(BaseModel):
    """A contact in a list. ``name`` is masked (``张*``) unless the caller unmasked it."""

    id: int
    nickname: str | None
    name: str | None
    gender: str | None
    region: str | None
    first_source: str | None
    first_channel_code: str | None
    owner_staff_id: int | None
    created_at: datetime
    last_seen_at: datetime | None
    identity_kinds: list[str] = Field(description="Kinds of identity the contact has, e.g. `phone`, `wx_openid`.")


class IdentityOut(BaseModel):
    id: int
    kind: str
    scope: str
    key: str = Field(description="The key's name: `kind@scope`, or `kind` for unscoped kinds.")
    value: str = Field(description="Phone numbers and e-mail addresses are masked unless unmasked.")
    masked: bool
    created_at: datetime


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    purpose: str
    channel: str | None = Field(description="Set for a per-channel opt-in or opt-out; null for the purpose as a whole.")
    granted: bool
    source: str
    recorded_at: datetime


class MergeOut(BaseModel):
    id: int
    survivor_id: int
    merged_id: int
    rule: str = Field(description="`manual`, or the identity rule that joined them (e.g. `joined_by_phone`).")
    evidence: dict[str, Any]
    actor_label: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None
    moved: dict[str, int] = Field(description="How many identities, events, orders and consent records moved.")


class OrderTotals(BaseModel):
    count: int
    paid_fen: int
    refunded_fen: int


class ContactProfile(BaseModel):
    id: int
    nickname: str | None
    name: str | None
    gender: str | None
    birthday: date | None
    region: str | None
    first_source: str | None
    first_channel_code: str | None
    owner_staff: StaffRef | None
    created_at: datetime
    updated_at: datetime | None
    last_seen_at: datetime | None
    masked: bool = Field(description="Whether personal data (name, phone, e-mail) is masked in this response.")
    identities: list[IdentityOut]
    properties: dict[str, Any]
    consent: list[ConsentOut] = Field(description="Current state per purpose and channel: the latest record wins.")
    consent_ledger: list[ConsentOut] = Field(description="Every consent record, newest first.")
    merges: list[MergeOut] = Field(description="Merges this contact took part in, newest first.")
    orders: OrderTotals
    event_count: int


# --- timeline ---------------------------------------------------------------------------------


class TimelineEvent(BaseModel):
    type: Literal["event"] = "event"
    id: int
    at: datetime
    name: str
    source: str | None
    properties: dict[str, Any]


class TimelineOrder(BaseModel):
    type: Literal["order"] = "order"
    id: int
    at: datetime
    order_id: str
    amount_fen: int
    refunded_fen: int
    currency: str
    sales_channel: str
    items: list[dict[str, Any]]


TimelineItem = Annotated[TimelineEvent | TimelineOrder, Field(discriminator="type")]


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last page.")


# --- merges -----------------------------------------------------------------------------------


class MergePair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survivor_id: RowId = Field(description="The contact that stays.")
    merged_id: RowId = Field(description="The contact folded into the survivor.")


class MergeRequest(MergePair):
    reason: Text | None = Field(default=None, max_length=500, description="Why, kept as the merge's evidence.")


class MergePreview(BaseModel):
    survivor: ContactSummary
    merged: ContactSummary
    moves: dict[str, int] = Field(description="Rows that would move: identity, event, order, consent.")
    identities: list[IdentityOut] = Field(description="The merged contact's identities, which would move.")
    fills: dict[str, Any] = Field(description="Empty survivor fields the merged contact would fill.")
    properties_added: list[str]
    conflicts: dict[str, dict[str, Any]] = Field(
        description="Fields both contacts have with different values: `kept` (survivor's) and `dropped`."
    )


# --- property catalogue -----------------------------------------------------------------------


class PropertyDefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: PropertyKey
    type: PropertyType
    label: Text | None = Field(default=None, min_length=1, max_length=200, description="Defaults to the key.")
    description: Text | None = Field(default=None, max_length=1000)
    options: list[Annotated[Text, Field(min_length=1, max_length=MAX_OPTION)]] | None = Field(
        default=None,
        max_length=500,
        validate_default=True,
        description="Allowed values: required for `enum`, optional for `list`, refused for other types.",
    )

    @field_validator("options")
    @classmethod
    def _options_fit_the_type(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        kind = info.data.get("type")
        if kind is None:  # the type itself is invalid and reported on its own field
            return value
        if kind is PropertyType.enum and not value:
            raise ValueError("an enum property needs at least one option")
        if kind not in WITH_OPTIONS and value is not None:
            raise ValueError("only enum and list properties take options")
        if value and len(set(value)) != len(value):
            raise ValueError("options must be unique")
        return value


class PropertyDefinitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    type: PropertyType
    label: str
    description: str | None
    options: list[Any] | None
    created_at: datetime


# --- channel codes and staff ------------------------------------------------------------------


class ChannelCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: ChannelState = Field(description="The `state` carried by the WeCom contact-way QR code.")
    label: Text = Field(min_length=1, max_length=200)
    source: Text = Field(min_length=1, max_length=64, description="Where contacts added by this code come from.")
    campaign: Text | None = Field(default=None, max_length=200)
    owner_staff: StaffUserid | None = Field(default=None, description="userid of the staff member who owns them.")


class ChannelCodeOut(BaseModel):
    id: int
    state: str
    label: str
    source: str
    campaign: str | None
    owner_staff: StaffRef | None
    contact_count: int = Field(description="Live contacts whose first channel code is this one.")
    created_at: datetime


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    userid: StaffUserid = Field(description="The WeCom userid.")
    name: Text = Field(min_length=1, max_length=200)
    department: Text | None = Field(default=None, max_length=200)


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    userid: str
    name: str
    department: str | None
    active: bool
    created_at: datetime

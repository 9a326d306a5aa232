"""Per-workspace identity resolution rules.

A record (an event, order or contact upsert) may carry several identity keys. When they name different
contacts, the contacts are merged only if the record carries a key of a *joining* kind: by default
``wx_unionid`` (one WeChat user across a brand's 公众号 and 小程序 openids) and ``phone`` (one person across
platforms). E-mail joining is off by default (shared family and office mailboxes). Otherwise the record
goes to the contact of its highest-priority key and the keys of other contacts are left where they are
(reported as a conflict).
"""

from __future__ import annotations

from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

from siyu.identity.keys import IdentityKind

DEFAULT_PRIORITY = [
    IdentityKind.wecom_external_userid,
    IdentityKind.wx_unionid,
    IdentityKind.wx_openid,
    IdentityKind.buyer_id,
    IdentityKind.phone,
    IdentityKind.email,
]


class IdentityRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    joining_kinds: list[IdentityKind] = Field(
        default_factory=lambda: [IdentityKind.wx_unionid, IdentityKind.phone],
        description="Kinds whose shared value joins (merges) contacts.",
    )
    priority: list[IdentityKind] = Field(
        default_factory=lambda: list(DEFAULT_PRIORITY),
        description="Which key names the contact when a record's keys disagree; first wins.",
    )

    @field_validator("priority")
    @classmethod
    def _complete(cls, value: list[IdentityKind]) -> list[IdentityKind]:
        missing = [k for k in IdentityKind if k not in value]
        return [*dict.fromkeys(value), *missing]

    @cached_property
    def _ranks(self) -> dict[str, int]:
        return {kind.value: i for i, kind in enumerate(self.priority)}

    @cached_property
    def _joining(self) -> frozenset[str]:
        return frozenset(kind.value for kind in self.joining_kinds)

    def rank(self, kind: str) -> int:
        return self._ranks[kind]

    def joins(self, kind: str) -> bool:
        return kind in self._joining


def rules_from(raw: dict[str, object] | None) -> IdentityRules:
    return IdentityRules.model_validate(raw or {})

"""What every ingestion batch needs to know about its workspace: time zone, identity rules, the
contacts a record may name directly, and the resolver."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.rules import IdentityRules, rules_from
from siyu.ingestion.schemas import Rejection
from siyu.kit.time import utcnow
from siyu.models import Contact, Workspace


class _NamesContact(Protocol):
    contact_id: int | None


class _Checked(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def record(self) -> _NamesContact: ...


_T = TypeVar("_T", bound=_Checked)


@dataclass
class BatchContext:
    session: Session
    workspace_id: int
    tz: zoneinfo.ZoneInfo
    rules: IdentityRules
    actor_label: str
    now: datetime

    @classmethod
    def open(cls, session: Session, workspace_id: int, actor_label: str) -> BatchContext:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        return cls(
            session=session,
            workspace_id=workspace_id,
            tz=zoneinfo.ZoneInfo(workspace.timezone),
            rules=rules_from(workspace.identity_rules),
            actor_label=actor_label,
            now=utcnow(),
        )

    def check_named_contacts(self, items: list[_T], rejected: list[Rejection]) -> tuple[list[_T], dict[int, int]]:
        """Items that name a ``contact_id`` must name one of this workspace: the others are rejected.
        Returns the items kept and, for each named id, the live contact it now is (after merges)."""
        live = self.live_contacts({i.record.contact_id for i in items if i.record.contact_id is not None})
        kept: list[_T] = []
        for item in items:
            cid = item.record.contact_id
            if cid is not None and cid not in live:
                rejected.append(Rejection(index=item.index, field="contact_id", reason=f"no contact {cid} here"))
            else:
                kept.append(item)
        return kept, live

    def live_contacts(self, ids: set[int]) -> dict[int, int]:
        """contact id → the live contact it is now (following merges); unknown ids are absent."""
        found: dict[int, int | None] = {}
        pending = set(ids)
        while pending:
            rows = self.session.execute(select(Contact.id, Contact.merged_into_id).where(Contact.id.in_(pending)))
            pending = set()
            for cid, merged_into in rows:
                found[cid] = merged_into
                if merged_into is not None and merged_into not in found:
                    pending.add(merged_into)
        out: dict[int, int] = {}
        for cid in ids:
            seen, cur = set(), cid
            while cur in found and found[cur] is not None and cur not in seen:
                seen.add(cur)
                cur = found[cur]  # type: ignore[assignment]
            if cur in found:
                out[cid] = cur
        return out

"""Resolve the identity keys of a batch of records to contacts, creating and merging as the rules say.

Built for batches: one query finds every known key, new contacts and identities are inserted in bulk,
and a key created concurrently by another transaction (PostgreSQL) is detected through the unique
index and resolved to the winner, so concurrent clients never create two contacts for one key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from siyu.identity import merge as merging
from siyu.identity.keys import IdentityKey
from siyu.identity.rules import IdentityRules
from siyu.kit.bulk import lookup_identities, moved_identities
from siyu.kit.upsert import insert_ignoring
from siyu.models import Contact, Identity


@dataclass
class Resolution:
    contact_id: int
    identity_id: int | None
    conflicts: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    """A contact this batch will create, known by a negative placeholder id until inserted."""

    placeholder: int
    record_index: int


def look_up(session: Session, workspace_id: int, keys: Iterable[IdentityKey]) -> dict[IdentityKey, tuple[int, int]]:
    """key → (identity id, contact id) for every one of ``keys`` that exists."""
    # Grouped by (kind, scope) so every look-up walks the unique index to the value.
    groups: dict[tuple[str, str], list[str]] = {}
    for key in set(keys):
        groups.setdefault((key.kind, key.scope), []).append(key.value)
    found: dict[IdentityKey, tuple[int, int]] = {}
    for (kind, scope), values in groups.items():
        for start in range(0, len(values), 2000):
            chunk = values[start : start + 2000]
            for value, ident_id, contact_id in lookup_identities(session, workspace_id, kind, scope, chunk):
                found[IdentityKey(kind, scope, value)] = (ident_id, contact_id)
    return found


@dataclass
class Prefetched:
    """Identities looked up before the write transaction began (on SQLite: a read snapshot, outside
    the writer lock). Inside the transaction the resolver re-reads only what may have changed: keys
    that were absent, and identities since moved to another contact or deleted (checked by primary
    key, which is cheaper than finding each key again)."""

    found: dict[IdentityKey, tuple[int, int]]

    @classmethod
    def read(cls, session: Session, workspace_id: int, keys: Iterable[IdentityKey]) -> Prefetched:
        return cls(look_up(session, workspace_id, keys))


class Resolver:
    def __init__(
        self,
        session: Session,
        workspace_id: int,
        rules: IdentityRules,
        *,
        actor_label: str,
        prefetched: Prefetched | None = None,
    ) -> None:
        self.session = session
        self.prefetched = prefetched
        self.workspace_id = workspace_id
        self.rules = rules
        self.actor_label = actor_label
        self.merges: list[int] = []
        self.created = 0  # contacts created by the batches resolved so far

    # --- look-ups ---------------------------------------------------------------------------

    def _known(self, keys: Iterable[IdentityKey]) -> dict[IdentityKey, tuple[int, int]]:
        """key → (identity id, contact id) for every key that exists. The first look-up of a resolver
        given ``prefetched`` keys only checks those (by primary key) and looks up the rest."""
        wanted = set(keys)
        prefetched, self.prefetched = self.prefetched, None  # valid for this transaction's first look-up
        if prefetched is None:
            return look_up(self.session, self.workspace_id, wanted)
        hits = {k: prefetched.found[k] for k in wanted if k in prefetched.found}
        moved = moved_identities(self.session, self.workspace_id, dict(hits.values()))
        if moved:
            hits = {k: v for k, v in hits.items() if v[0] not in moved}
        hits.update(look_up(self.session, self.workspace_id, [k for k in wanted if k not in hits]))
        return hits

    # --- the batch --------------------------------------------------------------------------

    def resolve(
        self,
        records: Sequence[Sequence[IdentityKey]],
        *,
        create: bool = True,
        defaults: Sequence[dict[str, Any]] | None = None,
        now: datetime,
    ) -> list[Resolution | None]:
        """One resolution per record (None: no key known and ``create`` is false).

        ``defaults`` gives per-record column values for contacts this batch creates (first source…).
        """
        known = self._known(k for keys in records for k in keys)
        owner: dict[IdentityKey, int] = {k: c for k, (_, c) in known.items()}
        pending: dict[int, _Pending] = {}
        self._alias: dict[int, int] = {}  # placeholder folded into another contact by a join
        self._discarded = 0
        new_keys: dict[IdentityKey, int] = {}  # key → contact (real or placeholder) it will be added to
        plan: list[tuple[int | None, IdentityKey | None, list[str]]] = []
        for index, keys in enumerate(records):
            ranked = list(keys) if len(keys) == 1 else sorted(set(keys), key=lambda k: self.rules.rank(k.kind))
            if len(ranked) == 1:
                contacts = [self._follow(owner[ranked[0]])] if ranked[0] in owner else []
            else:
                contacts = list(dict.fromkeys(self._follow(owner[k]) for k in ranked if k in owner))
            conflicts: list[str] = []
            if not contacts:
                if not create or not ranked:
                    plan.append((None, None, []))
                    continue
                placeholder = -(len(pending) + 1)
                pending[placeholder] = _Pending(placeholder, index)
                target = placeholder
            else:
                target = contacts[0]
                if len(contacts) > 1:
                    joining = [k for k in ranked if self.rules.joins(k.kind)]
                    if joining:
                        target = self._merge_all(contacts, owner, ranked, joining, pending)
                    else:
                        conflicts = [k.name for k in ranked if k in owner and self._follow(owner[k]) != target]
            for key in ranked:
                if key not in owner and key not in new_keys:
                    new_keys[key] = target
                    owner[key] = target
            plan.append((target, ranked[0] if ranked else None, conflicts))

        real = self._insert_contacts(pending, defaults, now)
        identity_ids = self._insert_identities(new_keys, real, owner)
        self.created += len(real) - self._discarded
        out: list[Resolution | None] = []
        for planned, primary, conflicts in plan:
            if planned is None:
                out.append(None)
                continue
            target = self._follow(planned)
            contact_id = real.get(target, target)
            # After a concurrent insert the key may belong to another contact: follow the key.
            if primary is not None and primary in owner:
                holder = self._follow(owner[primary])
                contact_id = real.get(holder, holder)
            ident = identity_ids.get(primary) if primary is not None else None
            if ident is None and primary is not None and primary in known:
                ident = known[primary][0]
            out.append(Resolution(contact_id, ident, conflicts=conflicts))
        return out

    def _follow(self, contact: int) -> int:
        while contact in self._alias:
            contact = self._alias[contact]
        return contact

    def _merge_all(
        self,
        contacts: list[int],
        owner: dict[IdentityKey, int],
        ranked: list[IdentityKey],
        joining: list[IdentityKey],
        pending: dict[int, _Pending],
    ) -> int:
        """Join every contact the record names. Stored contacts merge into the oldest (a journaled,
        reversible merge); contacts this batch has not stored yet simply fold into the survivor."""
        real = sorted(c for c in contacts if c > 0)
        placeholders = sorted((c for c in contacts if c < 0), reverse=True)
        survivor = real[0] if real else placeholders[0]
        for placeholder in placeholders:
            if placeholder != survivor:
                self._alias[placeholder] = survivor
                del pending[placeholder]
        for other in real[1:]:
            record = merging.merge(
                self.session,
                survivor,
                other,
                rule=f"joined_by_{joining[0].kind}",
                evidence={"keys": [k.name + ":" + _mask(k) for k in ranked]},
                actor_label=self.actor_label,
            )
            self.merges.append(record.id)
            # Records planned earlier for the merged contact, and keys this batch will add to it, now
            # belong to the survivor: nothing may be written to a merged contact.
            self._alias[other] = survivor
            for key, contact in list(owner.items()):
                if contact == other:
                    owner[key] = survivor
        return survivor

    def _insert_contacts(
        self, pending: dict[int, _Pending], defaults: Sequence[dict[str, Any]] | None, now: datetime
    ) -> dict[int, int]:
        if not pending:
            return {}
        order = sorted(pending, reverse=True)  # -1, -2, …: creation order
        rows = [
            {
                "workspace_id": self.workspace_id,
                "properties": {},
                "created_at": now,
                **(defaults[pending[p].record_index] if defaults is not None else {}),
            }
            for p in order
        ]
        ids = list(self.session.scalars(insert(Contact).returning(Contact.id, sort_by_parameter_order=True), rows))
        return dict(zip(order, ids, strict=True))

    def _insert_identities(
        self, new_keys: dict[IdentityKey, int], real: dict[int, int], owner: dict[IdentityKey, int]
    ) -> dict[IdentityKey, int]:
        if not new_keys:
            return {}
        # A fixed order, so concurrent batches lock the unique index in the same order (no deadlocks).
        keys = sorted(new_keys)
        rows = [
            {
                "workspace_id": self.workspace_id,
                "kind": k.kind,
                "scope": k.scope,
                "value": k.value,
                "contact_id": real.get(self._follow(new_keys[k]), self._follow(new_keys[k])),
            }
            for k in keys
        ]
        self._discarded = 0
        stmt = insert_ignoring(self.session, Identity, ["workspace_id", "kind", "scope", "value"])
        created: dict[IdentityKey, int] = {}
        for row in self.session.execute(
            stmt.returning(Identity.id, Identity.kind, Identity.scope, Identity.value), rows
        ):
            created[IdentityKey(row.kind, row.scope, row.value)] = row.id
        lost = [k for k in keys if k not in created]
        if lost:
            # Another transaction created these keys first: they and their records go to its contacts.
            winners = self._known(lost)
            for key in lost:
                ident_id, contact_id = winners[key]
                created[key] = ident_id
                owner[key] = contact_id
            created_contacts = set(real.values())
            used = self.session.scalars(select(Identity.contact_id).where(Identity.contact_id.in_(created_contacts)))
            unused = created_contacts - set(used)
            if unused:
                self.session.execute(delete(Contact).where(Contact.id.in_(unused)))
                self._discarded = len(unused)
        return created


def _mask(key: IdentityKey) -> str:
    """Evidence keeps a recognisable but masked value (merge records are widely readable)."""
    value = key.value
    if len(value) <= 4:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]

"""Columnar event buffer of one block: events are appended as numpy arrays (contact, time, name, …) with
their properties interned as JSON text, then sorted per contact and turned into rows once."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

Ints = NDArray[np.int64]

EVENT_NAMES: Final = (
    "contact_added", "contact_deleted", "subscribed", "message_received", "message_opened", "link_clicked",
    "group_joined", "group_left", "group_message", "order_paid", "order_refunded", "page_view", "checkin",
    "coupon_issued", "coupon_redeemed", "points_earned", "referral_invited", "referral_converted",
    "survey_answered", "message_sent",
)  # fmt: skip
NAME: Final = {name: i for i, name in enumerate(EVENT_NAMES)}
SOURCES: Final = ("wecom", "mp", "miniprogram", "orders", "loyalty", "referral")
SOURCE: Final = {name: i for i, name in enumerate(SOURCES)}
# What counts as the contact being active (retention, activity tiers): not system-side events (a
# message_sent is the brand's action, not the customer's).
ENGAGEMENT: Final = frozenset(
    NAME[n] for n in ("message_opened", "link_clicked", "group_message", "message_received", "checkin",
                      "order_paid", "page_view", "survey_answered")
)  # fmt: skip
# Identity slots: which of a contact's identities named the event (see blocks.IDENTITY_SLOTS).
NO_IDENTITY: Final = -1


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def appended(
    cols: dict[str, Ints], name: str, contact: Ints, time: Ints, props: int | Ints, *, source: str, slot: int
) -> dict[str, Ints]:
    """``cols`` (from ``EventBuffer.columns``) with more events after them: for events that depend on what
    the buffer already holds once it has been read."""
    count = len(contact)
    extra = {
        "contact": contact,
        "time": time,
        "name": np.full(count, NAME[name], np.int64),
        "source": np.full(count, SOURCE[source], np.int64),
        "props": np.broadcast_to(np.asarray(props, np.int64), (count,)),
        "slot": np.full(count, slot, np.int64),
        "explicit": np.full(count, -1, np.int64),
    }
    return {k: np.concatenate([cols[k], extra[k].astype(np.int64)]) for k in cols}


class EventBuffer:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self._interned: dict[str, int] = {}
        self._parts: list[tuple[Ints, Ints, int, int, Ints, Ints, Ints | None]] = []

    def text(self, value: Any) -> int:
        """Index of the JSON text of ``value`` (shared by every event that has the same properties)."""
        encoded = dumps(value)
        found = self._interned.get(encoded)
        if found is None:
            found = self._interned[encoded] = len(self.texts)
            self.texts.append(encoded)
        return found

    def texts_of(self, values: list[str]) -> Ints:
        """Indexes of already-encoded, distinct texts (per-event properties such as order ids)."""
        start = len(self.texts)
        self.texts.extend(values)
        return np.arange(start, start + len(values), dtype=np.int64)

    def add(
        self,
        name: str,
        contact: Ints,
        time: Ints,
        props: int | Ints,
        *,
        source: str,
        slot: int | Ints,
        explicit_id: Ints | None = None,
    ) -> None:
        """Events ``name`` of block-local ``contact`` indexes at epoch-second ``time``s. ``slot`` says which
        identity named them; ``explicit_id`` indexes texts holding an event_id (else one is derived)."""
        count = len(contact)
        if count == 0:
            return
        props_arr = np.full(count, props, np.int64) if isinstance(props, int) else props.astype(np.int64)
        slot_arr = np.full(count, slot, np.int64) if isinstance(slot, int) else slot.astype(np.int64)
        self._parts.append((contact, time, NAME[name], SOURCE[source], props_arr, slot_arr, explicit_id))

    def columns(self) -> dict[str, Ints]:
        """Every event so far as parallel arrays, in the order they were added."""
        if not self._parts:
            empty = np.zeros(0, np.int64)
            return dict.fromkeys(("contact", "time", "name", "source", "props", "slot", "explicit"), empty)
        sizes = [len(p[0]) for p in self._parts]
        return {
            "contact": np.concatenate([p[0] for p in self._parts]).astype(np.int64),
            "time": np.concatenate([p[1] for p in self._parts]).astype(np.int64),
            "name": np.repeat(np.asarray([p[2] for p in self._parts], np.int64), sizes),
            "source": np.repeat(np.asarray([p[3] for p in self._parts], np.int64), sizes),
            "props": np.concatenate([p[4] for p in self._parts]),
            "slot": np.concatenate([p[5] for p in self._parts]),
            "explicit": np.concatenate(
                [p[6] if p[6] is not None else np.full(len(p[0]), -1, np.int64) for p in self._parts]
            ),
        }

"""``generate``: a deterministic demo workspace from a seed number, written block by block.

The population (join times, channel codes, tiers, groups, referrals) is drawn once for everybody; then
each block of ``BLOCK_SIZE`` contacts gets its own random stream (seed, block number), so the data depends
only on the configuration, never on timing or on the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.audit import service as audit
from siyu.demo import commerce, engagement, lifecycle, population, rows, visits
from siyu.demo.block import BLOCK_SIZE, Block, Ids
from siyu.demo.buffer import EventBuffer, dumps
from siyu.demo.calendar import Send, month_starts, plan, window_for
from siyu.demo.names import opaque
from siyu.demo.population import Window
from siyu.demo.presets import PRESETS, Industry, Preset
from siyu.demo.store import Sink, clear, count_contacts
from siyu.kit.db import transaction
from siyu.models import AuditEvent

Progress = Callable[[int, int], None]
AUDIT_ACTION: Final = "demo.generated"
ROWS_PER_TRANSACTION: Final = 400_000  # events; a commit about every 40k contacts
INVITE_SALT: Final = 41
MAX_CONTACTS: Final = 10_000_000


@dataclass(frozen=True)
class DemoConfig:
    contacts: int = 50_000
    industry: Industry = Industry.beauty
    seed: int = 42
    months: int = 12
    until: date | None = None  # the window ends at 00:00 (Asia/Shanghai) this day; default today

    def end_day(self) -> date:
        return self.until or datetime.now(ZoneInfo("Asia/Shanghai")).date()


@dataclass
class Run:
    """What every block of one run shares."""

    workspace_id: int
    seed: int
    sends: list[Send]
    months: list[int]  # epoch seconds of the 1st of each month in the window
    referrals: lifecycle.Referrals
    staff_ids: list[int]
    states: list[str]  # channel code states, by campaign × staff count + staff
    userids: list[str]
    counts: dict[str, int]


@dataclass
class Summary:
    config: DemoConfig
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        config = asdict(self.config)
        config["industry"] = self.config.industry.value
        config["until"] = self.config.end_day().isoformat()
        return {**config, "seconds": round(self.seconds, 2), "rows": self.rows}


def generate(
    factory: sessionmaker[Session], workspace_id: int, config: DemoConfig, progress: Progress | None = None
) -> Summary:
    """Replace the workspace's contacts, orders, events… with the demo described by ``config``."""
    if not 1 <= config.contacts <= MAX_CONTACTS:
        raise ValueError(f"contacts must be from 1 to {MAX_CONTACTS}")
    if not 1 <= config.months <= 36:
        raise ValueError("months must be from 1 to 36")
    started = time.perf_counter()
    preset = PRESETS[config.industry]
    window, sends = calendar(config)
    pop = population.build(preset, config.contacts, window, np.random.default_rng([config.seed, 1]))
    summary = Summary(config)
    counts = summary.rows
    with transaction(factory) as session:
        sink = Sink(session.connection())
        clear(sink.conn, workspace_id)
        sink.prepare()
        ids = _setup(sink, workspace_id, preset, pop, counts, window.start)
    run = Run(
        workspace_id=workspace_id,
        seed=config.seed,
        sends=sends,
        months=month_starts(window),
        referrals=lifecycle.referral_index(pop.inviter, lambda idx: _invite_codes(preset, idx, config.seed)),
        staff_ids=[ids.staff + s for s in range(pop.staff_count)],
        states=[f"{c.key}-{s + 1:04d}" for c in preset.campaigns for s in range(pop.staff_count)],
        userids=[_userid(preset, s) for s in range(pop.staff_count)],
        counts=counts,
    )
    blocks = -(-config.contacts // BLOCK_SIZE)
    pending = 0
    session = factory()
    try:
        sink = Sink(session.connection())
        sink.prepare()
        for number in range(blocks):
            lo, hi = number * BLOCK_SIZE, min(config.contacts, (number + 1) * BLOCK_SIZE)
            block = Block(pop, lo, hi, np.random.default_rng([config.seed, 1000 + number]), EventBuffer(), ids)
            written = _block(block, sink, run, last=hi == config.contacts)
            pending += written
            if pending >= ROWS_PER_TRANSACTION or hi == config.contacts:
                session.commit()
                sink = Sink(session.connection())
                sink.prepare()
                pending = 0
            if progress is not None:
                progress(hi, config.contacts)
        summary.seconds = time.perf_counter() - started
        audit.record(
            session,
            None,
            AUDIT_ACTION,
            "workspace",
            workspace_id,
            after=summary.as_dict(),
            workspace_id=workspace_id,
            actor_label="demo",
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return summary


def calendar(config: DemoConfig) -> tuple[Window, list[Send]]:
    """The window and the broadcasts of a configuration (what the opens and clicks answer)."""
    window = window_for(config.end_day(), config.months)
    return window, plan(PRESETS[config.industry], window, config.months, np.random.default_rng([config.seed, 2]))


def _setup(
    sink: Sink, workspace_id: int, preset: Preset, pop: population.Population, counts: dict[str, int], start: int
) -> Ids:
    """Staff, channel codes and the persona property; reserves every contact id up front (invitations
    name contacts of later blocks). On SQLite a placeholder row holds the last id until the end."""
    contact = sink.reserve("contact", pop.size)
    if sink.sqlite:
        at = sink.times(np.asarray([start]))[0]
        sink.insert(
            "contact",
            ("id", "workspace_id", "properties", "created_at"),
            [(contact + pop.size - 1, workspace_id, "{}", at)],
        )
    created = sink.times(np.asarray([start - 30 * population.DAY]))[0]
    staff = sink.reserve("staff_member", pop.staff_count)
    sink.insert(
        "staff_member",
        ("id", "workspace_id", "userid", "name", "department", "active", "created_at"),
        [
            (
                staff + s,
                workspace_id,
                _userid(preset, s),
                _staff_name(preset, s),
                preset.departments[s % len(preset.departments)],
                sink.flag(True),
                created,
            )
            for s in range(pop.staff_count)
        ],
    )
    code = sink.reserve("channel_code", len(preset.campaigns) * pop.staff_count)
    sink.insert(
        "channel_code",
        ("id", "workspace_id", "state", "label", "source", "campaign", "owner_staff_id", "created_at"),
        [
            (
                code + c * pop.staff_count + s,
                workspace_id,
                f"{camp.key}-{s + 1:04d}",
                f"{camp.label} · {_staff_name(preset, s)}",
                camp.source,
                camp.label,
                staff + s,
                created,
            )
            for c, camp in enumerate(preset.campaigns)
            for s in range(pop.staff_count)
        ],
    )
    sink.insert(
        "property_definition",
        ("workspace_id", "key", "type", "label", "description", "options", "created_at"),
        [
            (
                workspace_id,
                preset.persona_key,
                "enum",
                preset.persona_label,
                "demo persona",
                dumps(list(preset.persona_options)),
                created,
            )
        ],
    )
    counts.update(staff_member=pop.staff_count, channel_code=len(preset.campaigns) * pop.staff_count)
    counts["property_definition"] = 1
    return Ids(contact=contact, identity=0, order=0, staff=staff, code=code)


def _block(block: Block, sink: Sink, run: Run, *, last: bool) -> int:
    """Generate one block and write its rows; returns how many events it wrote."""
    preset = block.pop.preset
    lifecycle.people(block)
    orders = commerce.generate(block, run.months)
    lifecycle.designate_retention(block, orders)
    lifecycle.acquisition(block, run.states, run.userids)
    engagement.content(block, run.sends, f"https://{preset.industry.value}.example.com/c")
    engagement.deletions(block, run.userids)
    engagement.groups(block, run.months)
    lifecycle.referrals(block, run.referrals)
    lifecycle.after_orders(block, orders)
    cols = lifecycle.fix_retention(block, block.buf.columns(), preset.home_page)
    cols = visits.miniprogram(block, orders, cols)
    rows.identities(block)
    out = rows.Rows()
    ws = run.workspace_id
    ident = rows.identity_rows(block, sink, ws, sink.reserve("identity", int(block.used_slot.sum())), run.seed, out)
    rows.order_rows(block, sink, ws, orders, ident, sink.reserve("sales_order", len(orders.contact)), out)
    seen = rows.event_rows(block, sink, ws, cols, ident, out)
    rows.contact_rows(block, sink, ws, seen, run.staff_ids, out)
    rows.consent_rows(block, sink, ws, out)
    rows.delivery_rows(block, sink, ws, out)
    if last and sink.sqlite:
        sink.conn.exec_driver_sql("DELETE FROM contact WHERE id = ?", (block.ids.contact + block.hi - 1,))
    for table, columns in (
        ("contact", rows.CONTACT_COLUMNS),
        ("identity", rows.IDENTITY_COLUMNS),
        ("consent_record", rows.CONSENT_COLUMNS),
        ("sales_order", rows.ORDER_COLUMNS),
        ("order_refund", rows.REFUND_COLUMNS),
        ("event", rows.EVENT_COLUMNS),
        ("delivery", rows.DELIVERY_COLUMNS),
    ):
        sink.insert(table, columns, out.tables.get(table, []))
        run.counts[table] = run.counts.get(table, 0) + out.count(table)
    return out.count("event")


def _userid(preset: Preset, index: int) -> str:
    return f"{preset.order_prefix.lower()}{index + 1:04d}"


def _staff_name(preset: Preset, index: int) -> str:
    names = preset.staff_names
    name = names[index % len(names)]
    return name if index < len(names) else f"{name}{index // len(names) + 1}"


def _invite_codes(preset: Preset, index: np.ndarray, seed: int) -> list[str]:
    return opaque(index.astype(np.int64), preset.order_prefix, INVITE_SALT + 1000 * seed, width=10)


def existing(factory: sessionmaker[Session], workspace_id: int) -> tuple[int, dict[str, Any] | None]:
    """How many contacts the workspace has, and the configuration of the last finished demo run."""
    with transaction(factory) as session:
        contacts = count_contacts(session.connection(), workspace_id)
        last = session.scalar(
            select(AuditEvent.after)
            .where(AuditEvent.workspace_id == workspace_id, AuditEvent.action == AUDIT_ACTION)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
    return contacts, last

"""Every industry preset generates a coherent workspace: its catalogue, channel codes, sales channels and
persona property, with the tier shares it declares."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.demo.presets import PRESETS, Industry
from siyu.kit.db import transaction
from siyu.models import ChannelCode, Contact, Event, PropertyDefinition, SalesOrder
from tests.demo.helpers import build


@pytest.mark.parametrize("industry", list(Industry))
def test_preset_generates_its_own_world(session_factory: sessionmaker[Session], industry: Industry) -> None:
    preset = PRESETS[industry]
    ws, _ = build(session_factory, contacts=1000, industry=industry, months=6)
    with transaction(session_factory) as session:
        assert session.scalar(select(func.count()).where(Contact.workspace_id == ws)) == 1000
        skus = {item["sku"] for items in session.scalars(select(SalesOrder.items)) for item in items}
        assert skus <= {s.sku for s in preset.skus}
        assert len(skus) >= len(preset.skus) // 2
        channels = set(session.scalars(select(SalesOrder.sales_channel).distinct()))
        assert channels <= {c for c, _ in preset.sales_channels}
        states = set(session.scalars(select(ChannelCode.state)))
        assert {s.split("-")[0] for s in states} <= {c.key.split("-")[0] for c in preset.campaigns}
        used = set(session.scalars(select(Contact.first_channel_code).where(Contact.first_channel_code.is_not(None))))
        assert used <= states
        definition = session.scalar(select(PropertyDefinition).where(PropertyDefinition.key == preset.persona_key))
        assert definition is not None
        assert definition.options == list(preset.persona_options)
        personas = {p.get(preset.persona_key) for p in session.scalars(select(Contact.properties))}
        assert personas - {None} <= set(preset.persona_options)
        names = set(session.scalars(select(Event.name).distinct()))
        assert {"contact_added", "message_opened", "group_message", "order_paid", "referral_converted"} <= names

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import JSONType
from siyu.models.base import Base, IdMixin, TimestampMixin


class Workspace(IdMixin, TimestampMixin, Base):
    """One brand. Every business row belongs to exactly one workspace."""

    __tablename__ = "workspace"

    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(16), nullable=False, default="zh_CN")
    # Identity resolution rules (siyu.identity.rules.IdentityRules); empty means the defaults.
    identity_rules: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Settings of the built-in tiers (siyu.tiers.config.TierSettings); empty means the defaults.
    tier_settings: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    board_settings: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Messaging governance (siyu.dispatch.governance): caps, quiet hours, content mix; {} = the defaults.
    governance: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Outbound channel settings by channel (siyu.dispatch.channels): {"webhook": {"url": …, "secret": …}}.
    channels: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # What the channels keep between runs (siyu.channel.sync): {"wecom": {"full_sync_at": …, "last_report": …}}.
    channel_state: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=True, default=dict)

"""The settings of the WeCom, 公众号, 小程序 and SMS channels (``workspace.channels.<name>``): what each
needs to call out and to check callbacks, with the secrets that are sealed at rest and never shown.

Every number WeCom or WeChat enforces (receive caps, windows, rate limits) is a setting with the documented
value as its default: the platforms change them more often than their pages do.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from siyu.wechat.client import WECHAT_BASE, WECOM_BASE

_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{1,32}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return value.rstrip("/")


def _identifier(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("letters, digits, - and _, at most 64")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Identifier = Annotated[str, AfterValidator(_identifier)]


class _Callbacks(BaseModel):
    """What checks a platform's callbacks: the Token and EncodingAESKey set in its console."""

    token: str | None = Field(None, description="回调 Token (letters and digits, at most 32).")
    encoding_aes_key: str | None = Field(None, description="回调 EncodingAESKey (43 letters and digits).")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not _TOKEN.match(value):
            raise ValueError("letters and digits, at most 32")
        return value

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _AES_KEY.match(value):
            raise ValueError("43 letters and digits")
        return value


class WeComSettings(_Callbacks):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secrets: ClassVar[tuple[str, ...]] = ("secret", "token", "encoding_aes_key")

    corpid: Identifier = Field(description="The corp id (企业ID).")
    secret: str = Field(min_length=1, max_length=200, description="The self-built app's secret (客户联系).")
    agent_id: str | None = Field(None, max_length=32, description="That app's AgentId.")
    api_base: HttpUrl = Field(WECOM_BASE, max_length=500, description="The WeCom API (a stand-in's URL in tests).")
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_attempts: int = Field(6, ge=1, le=20, description="Then the message is a dead letter.")
    per_minute: int = Field(600, ge=1, le=100_000, description="Ledger rows handed to WeCom a minute, at most.")
    api_per_minute: int = Field(
        6000, ge=1, le=10_000, description="Calls a minute to any one API (WeCom allows 10,000 per corp and API)."
    )
    receive_cap: int = Field(
        31, ge=1, le=31, description="企业群发 messages a customer may receive per receive_period (WeCom's rule)."
    )
    receive_period: Literal["month", "week", "day"] = "month"
    confirm_days: int = Field(
        3, ge=1, le=30, description="A 群发 task its staff member has not sent within this many days fails."
    )
    poll_minutes: int = Field(5, ge=1, le=1440, description="How often 群发 results are asked for.")
    welcome_seconds: int = Field(20, ge=1, le=60, description="How long a welcome_code can be used.")


class OfficialAccountSettings(_Callbacks):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secrets: ClassVar[tuple[str, ...]] = ("secret", "token", "encoding_aes_key")

    appid: Identifier = Field(description="The 公众号's AppID.")
    secret: str = Field(min_length=1, max_length=200, description="AppSecret.")
    api_base: HttpUrl = Field(WECHAT_BASE, max_length=500, description="The WeChat API (a stand-in's URL in tests).")
    template_id: str | None = Field(
        None, max_length=128, description="Template of service notices; without one only 客服 messages are sent."
    )
    template_keywords: list[str] = Field(
        default_factory=lambda: ["thing1", "time2"], max_length=5, description="Keywords filled from the content."
    )
    window_hours: int = Field(48, ge=1, le=48, description="客服 messages are allowed this long after the user's.")
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_attempts: int = Field(6, ge=1, le=20)
    per_minute: int = Field(600, ge=1, le=100_000)


class MiniProgramSettings(OfficialAccountSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)

    template_id: str | None = Field(None, max_length=128, description="The subscribe-message template.")
    page: str | None = Field(None, max_length=500, description="The 小程序 page a message opens.")
    state: Literal["developer", "trial", "formal"] = "formal"


class SmsSettings(BaseModel):
    """A generic HTTP SMS provider: ``POST <url>`` with ``{"phone", "text", "sign", "client_id"}`` and a
    bearer key; ``GET <status_url>?client_id=`` tells what became of a message."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secrets: ClassVar[tuple[str, ...]] = ("api_key",)

    provider: Literal["http"] = "http"
    url: HttpUrl = Field(max_length=2000, description="Where messages are POSTed.")
    status_url: HttpUrl | None = Field(None, max_length=2000, description="The provider's status lookup.")
    api_key: str = Field(min_length=1, max_length=500)
    sign: str = Field(min_length=2, max_length=20, description="The registered signature (签名), e.g. 【品牌】.")
    unsubscribe_hint: str = Field("拒收请回复R", max_length=20, description="Appended to marketing messages.")
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_attempts: int = Field(6, ge=1, le=20)
    per_minute: int = Field(600, ge=1, le=100_000)

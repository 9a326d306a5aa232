"""The e-mail channel: messages handed to an SMTP relay.

Settings (``workspace.channels.email``): ``host``, ``port``, ``security`` (``starttls``, ``ssl`` or
``none``), ``username`` and ``password`` (optional), ``from_address`` and ``from_name``, ``reply_to``,
``unsubscribe_url`` (``List-Unsubscribe`` on marketing messages), ``timeout_seconds``, ``max_attempts``,
``per_minute``, and ``lookup_url`` / ``lookup_token`` for reconciliation.

A message goes to the contact's ``email`` identity (the oldest one); a contact without one fails with that
reason. Each message carries a ``Message-ID`` made from its ledger row (``<siyu.<id>.<hash>@<from domain>>``),
one SMTP transaction per message, over ``connections`` connections at once (an SMTP round trip, not the
CPU, bounds one connection's rate):

* the relay refuses ``MAIL``/``RCPT``/``DATA`` with a 4xx, or the connection fails before the message is
  handed over: **retried** with back-off (nothing was handed over);
* a 5xx: **failed** with the relay's answer;
* the connection breaks after the message was handed over and before the relay answered: **unknown**.
  SMTP itself cannot be asked what happened, so ``unknown`` messages (these, and those of a worker
  killed mid-pass) are reconciled through the relay's message lookup when ``lookup_url`` is set:
  ``GET <lookup_url>?message_id=<Message-ID>`` (with ``Authorization: Bearer <lookup_token>``) answering
  ``200 {"accepted": true|false}`` or ``404`` (never received) — e-mail services offer such a search of
  their accepted mail by ``Message-ID``. Without it they stay ``unknown`` in the ledger for an operator
  to resolve; they are never blindly sent again.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from email.header import Header
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.dispatch.calling import CallChannel, Outcome, Sender, message_id
from siyu.dispatch.governance import Priority
from siyu.errors import ChannelUnreachable
from siyu.identity.keys import IdentityKeyError, make_key
from siyu.models import Delivery, Identity


def _address(value: str) -> str:
    try:
        return make_key("email", value).value
    except IdentityKeyError as exc:
        raise ValueError(str(exc)) from None


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return value


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secrets: ClassVar[tuple[str, ...]] = ("password", "lookup_token")

    host: str = Field(min_length=1, max_length=255, description="The SMTP relay.")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = Field(None, max_length=320)
    password: str | None = Field(None, max_length=500)
    from_address: str = Field(max_length=320)
    from_name: str | None = Field(None, max_length=200)
    reply_to: str | None = Field(None, max_length=320)
    unsubscribe_url: str | None = Field(None, max_length=2000, description="List-Unsubscribe on marketing mail.")
    timeout_seconds: float = Field(30.0, gt=0, le=120)
    max_attempts: int = Field(6, ge=1, le=20, description="Then the message is a dead letter.")
    per_minute: int = Field(600, ge=1, le=100_000, description="At most this many messages a minute.")
    connections: int = Field(4, ge=1, le=32, description="SMTP connections a worker sends over at once.")
    lookup_url: str | None = Field(None, max_length=2000, description="The relay's message lookup by Message-ID.")
    lookup_token: str | None = Field(None, max_length=500)

    @field_validator("from_address", "reply_to")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)

    @field_validator("unsubscribe_url", "lookup_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _http_url(value)

    @property
    def domain(self) -> str:
        return self.from_address.rpartition("@")[2]


def parse_email(raw: object) -> EmailSettings:
    return Email().load(raw)  # type: ignore[no-any-return]


def addresses(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    """Each contact's oldest ``email`` identity."""
    found: dict[int, str] = {}
    ids = sorted(set(contact_ids))
    for start in range(0, len(ids), 2000):
        for contact_id, value in session.execute(
            select(Identity.contact_id, Identity.value)
            .where(Identity.kind == "email", Identity.contact_id.in_(ids[start : start + 2000]))
            .order_by(Identity.id)
        ):
            found.setdefault(contact_id, value)
    return found


# CRLF line ends, as SMTP wants them. The legacy (compat32) message classes build a message about six times
# faster than EmailMessage, whose header registry parses every header it is given: at hundreds of thousands
# of messages a day that is the e-mail channel's main cost. Non-ASCII headers are RFC 2047 encoded by hand.
WIRE = compat32.clone(linesep="\r\n")


def _header(name: str, value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8", header_name=name).encode()


def render(settings: EmailSettings, row: Delivery, to: str, now: datetime) -> bytes:
    """The message as it goes on the wire: UTF-8 text (base64), RFC 2047 headers, CRLF line ends."""
    content = row.content if isinstance(row.content, dict) else {}
    text = str(content.get("text") or "")
    url = content.get("url")
    message = MIMEText(text + (f"\n\n{url}\n" if url else "\n"), "plain", "utf-8")
    message["From"] = formataddr((settings.from_name or "", settings.from_address), charset="utf-8")
    message["To"] = to
    message["Subject"] = _header("Subject", str(content.get("title") or text.splitlines()[0][:60] if text else ""))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id(row.id, row.dedup_key)}@{settings.domain}>"
    message["X-Siyu-Delivery"] = str(row.id)
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    if settings.unsubscribe_url and row.priority == Priority.marketing.value:
        message["List-Unsubscribe"] = f"<{settings.unsubscribe_url}>"
    return message.as_bytes(policy=WIRE)


class _Relay:
    """One SMTP connection for a pass, opened on first use and again after it breaks."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_seconds, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo_or_helo_if_needed()
        if s.username:
            smtp.login(s.username, s.password or "")
        return smtp

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def _envelope(self, to: str) -> tuple[int, str] | None:
        """MAIL and RCPT; None when the relay took both, else its refusal."""
        assert self.smtp is not None
        code, answer = self.smtp.mail(self.settings.from_address)
        if code == 250:
            code, answer = self.smtp.rcpt(to)
            if code in (250, 251):
                return None
        self.smtp.rset()
        return code, _text(answer)

    def send(self, item: dict[str, Any]) -> Outcome:
        attempt = item["attempts"]
        refused = None
        for retry in (False, True):  # a connection the relay closed while idle is opened once more
            try:
                if self.smtp is None:
                    self.smtp = self._open()
                refused = self._envelope(item["to"])
                break
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                if retry:
                    return "retry", f"attempt {attempt}: {type(exc).__name__}: {exc}"
        if refused is not None:
            return _refusal(attempt, *refused)
        try:
            assert self.smtp is not None
            code, answer = self.smtp.data(item["message"])  # raises when DATA itself is refused
        except smtplib.SMTPDataError as exc:
            return _refusal(attempt, exc.smtp_code, _text(exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return "unknown", f"the connection broke while the message was handed over: {type(exc).__name__}: {exc}"
        return ("sent", "") if code == 250 else _refusal(attempt, code, _text(answer))

    def close(self) -> None:
        if self.smtp is not None:
            with suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self._drop()


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer


def _refusal(attempt: int, code: int, answer: str) -> Outcome:
    if 400 <= code < 500:
        return "retry", f"attempt {attempt}: SMTP {code} {answer}"
    return "failed", f"SMTP {code} {answer}"


class Email(CallChannel):
    name = "email"
    title = "E-mail (SMTP)"
    settings_model = EmailSettings
    capabilities = frozenset({"send", "reconcile"})

    def test_connection(self, settings: EmailSettings) -> str:
        """Connect, negotiate TLS, log in and ``NOOP``: nothing is sent."""
        try:
            smtp = _Relay(settings)._open()
            code, _ = smtp.noop()
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnreachable(f"{settings.host}:{settings.port}: {type(exc).__name__}: {exc}") from None
        with suppress(OSError, smtplib.SMTPException):
            smtp.quit()
        return f"{settings.host}:{settings.port} answered NOOP with {code}"

    def items(
        self, session: Session, settings: EmailSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        to = addresses(session, [r.contact_id for r in rows])
        out: list[dict[str, Any]] = []
        for row in rows:
            if row.contact_id not in to:
                out.append({"id": row.id, "outcome": ("failed", "the contact has no e-mail address")})
                continue
            message = render(settings, row, to[row.contact_id], now)
            out.append(
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "to": to[row.contact_id],
                    "message": message,
                }
            )
        return out

    @contextmanager
    def connect(self, settings: EmailSettings, now: datetime) -> Iterator[Sender]:
        relays = [_Relay(settings) for _ in range(settings.connections)]
        pool = ThreadPoolExecutor(len(relays), thread_name_prefix="siyu-smtp") if len(relays) > 1 else None

        def send_all(items: list[dict[str, Any]]) -> list[Outcome]:
            if pool is None:
                return [relays[0].send(item) for item in items]
            # each connection sends its share in order; an SMTP relay answers one command at a time
            shares = [items[k :: len(relays)] for k in range(len(relays))]
            done = pool.map(lambda pair: [pair[0].send(i) for i in pair[1]], zip(relays, shares, strict=True))
            outcome = {
                i["id"]: o
                for share, results in zip(shares, done, strict=True)
                for i, o in zip(share, results, strict=True)
            }
            return [outcome[item["id"]] for item in items]

        try:
            yield send_all
        finally:
            if pool is not None:
                pool.shutdown()
            for relay in relays:
                relay.close()

    def can_reconcile(self, settings: EmailSettings) -> bool:
        return settings.lookup_url is not None  # without a lookup, unknown rows are for an operator

    def reconcile(self, settings: EmailSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        assert settings.lookup_url is not None
        headers = {"Authorization": f"Bearer {settings.lookup_token}"} if settings.lookup_token else {}
        settled: dict[int, Outcome] = {}
        with httpx.Client(timeout=settings.timeout_seconds, headers=headers) as http:
            for row in rows:
                wanted = f"<{row['message_id']}@{settings.domain}>"
                try:
                    response = http.get(settings.lookup_url, params={"message_id": wanted})
                except httpx.HTTPError:
                    continue  # asked again on the next pass
                if response.status_code == 404:
                    accepted = False
                elif response.status_code == 200 and isinstance(response.json().get("accepted"), bool):
                    accepted = response.json()["accepted"]
                else:
                    continue
                settled[row["id"]] = (
                    ("sent", "reconciled: the relay had accepted it")
                    if accepted
                    else ("queued", "reconciled: the relay never got it; sent again")
                )
        return settled

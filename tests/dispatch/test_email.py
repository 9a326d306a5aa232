"""The e-mail channel against a real SMTP server on loopback, on both databases: what the relay receives,
4xx retried and 5xx failed, a contact without an address, a connection that broke after the hand-over
(``unknown``) reconciled through the relay's lookup and never sent twice, an operator resolving an
``unknown`` message when the relay cannot be asked, and opt-out at the moment of sending."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.dispatch import calling, channels, ledger
from siyu.dispatch.email import Email, parse_email
from siyu.dispatch.governance import Priority, parse_governance
from siyu.errors import Conflict, InvalidInput
from siyu.kit.db import transaction
from siyu.models import ConsentRecord, Delivery
from tests.contact.factories import create_contact
from tests.factories import create_workspace
from tests.mailserver import MailServer

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    yield server
    server.stop()


def workspace(
    factory: sessionmaker[Session], mail: MailServer, contacts_with_mail: int = 3, **extra: object
) -> tuple[int, list[int]]:
    """Contacts with an address, then one without; one SMTP connection (the scripted answers come in
    order) unless ``connections`` says otherwise."""
    ws = create_workspace(factory).id
    extra = {"connections": 1, **extra}
    with transaction(factory, workspace_id=ws) as session:
        contacts = [
            create_contact(session, identities={"email": f"Buyer{i}@Example.com"}).id for i in range(contacts_with_mail)
        ]
        contacts.append(create_contact(session, identities={"phone": "13300000009"}).id)  # no address
        shown = channels.set_channel(session, ws, "email", mail.settings(max_attempts=2, **extra))
    assert "password" not in shown
    assert "lookup_token" not in shown
    return ws, contacts


def queue(
    factory: sessionmaker[Session], ws: int, contacts: list[int], priority: Priority = Priority.marketing
) -> None:
    with transaction(factory, workspace_id=ws) as session:
        messages = [
            ledger.Message(
                c,
                f"m:{c}",
                "test",
                "email",
                {"title": "上新", "text": "新品到了\n快来看", "url": "https://x.example/a"},
                priority,
            )
            for c in contacts
        ]
        ledger.queue(session, messages, parse_governance(None), "Asia/Shanghai", NOW)


def states(factory: sessionmaker[Session], ws: int) -> list[tuple[str, str | None]]:
    with transaction(factory, workspace_id=ws) as session:
        return [(s, r) for s, r in session.execute(select(Delivery.status, Delivery.reason).order_by(Delivery.id))]


def deliver(factory: sessionmaker[Session], ws: int, at: datetime = NOW) -> calling.ChannelReport:
    return calling.deliver(factory, ws, at, Email())


def test_messages_reach_the_relay_with_their_headers(session_factory: sessionmaker[Session], mail: MailServer) -> None:
    ws, contacts = workspace(session_factory, mail, unsubscribe_url="https://brand.example/unsubscribe")
    queue(session_factory, ws, contacts)
    report = deliver(session_factory, ws)
    assert (report.sent, report.failed) == (3, 1)
    assert [s for s, _ in states(session_factory, ws)] == ["sent", "sent", "sent", "failed"]
    assert states(session_factory, ws)[3][1] == "the contact has no e-mail address"
    first = mail.mailbox.accepted[0]
    assert first["To"] == "buyer0@example.com"
    assert first["Subject"] == "上新"
    assert first["From"] == "小店 <hello@brand.example>"
    assert first["List-Unsubscribe"] == "<https://brand.example/unsubscribe>"
    assert first["Message-ID"].endswith("@brand.example>")
    assert first["Message-ID"].startswith("<siyu.")
    assert "新品到了" in first.get_content()
    assert "https://x.example/a" in first.get_content()
    assert deliver(session_factory, ws).sent == 0  # nothing is sent twice
    assert len(mail.mailbox.accepted) == 3


def test_several_connections_send_each_message_once(session_factory: sessionmaker[Session], mail: MailServer) -> None:
    ws, contacts = workspace(session_factory, mail, contacts_with_mail=40, connections=4)
    queue(session_factory, ws, contacts)
    report = deliver(session_factory, ws)
    assert (report.sent, report.failed) == (40, 1)
    assert sorted(mail.mailbox.message_ids().values()) == [1] * 40
    assert {str(m["To"]) for m in mail.mailbox.accepted} == {f"buyer{i}@example.com" for i in range(40)}


def test_transactional_mail_carries_no_unsubscribe_header(
    session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    ws, contacts = workspace(session_factory, mail, unsubscribe_url="https://brand.example/unsubscribe")
    queue(session_factory, ws, contacts[:1], Priority.transactional)
    deliver(session_factory, ws)
    assert mail.mailbox.accepted[0]["List-Unsubscribe"] is None


def test_refusals_are_retried_or_failed(session_factory: sessionmaker[Session], mail: MailServer) -> None:
    ws, contacts = workspace(session_factory, mail)
    mail.mailbox.rcpt_script = ["451 4.7.1 try later", "550 5.1.1 no such user"]
    mail.mailbox.data_script = ["452 4.3.1 full"]
    queue(session_factory, ws, contacts[:3])
    report = deliver(session_factory, ws)
    assert (report.sent, report.retrying, report.failed) == (0, 2, 1)
    found = states(session_factory, ws)
    assert found[0] == ("queued", "attempt 1: SMTP 451 4.7.1 try later")
    assert found[1] == ("failed", "SMTP 550 5.1.1 no such user")
    assert found[2] == ("queued", "attempt 1: SMTP 452 4.3.1 full")
    assert deliver(session_factory, ws, NOW + timedelta(seconds=10)).sent == 0  # backing off
    assert deliver(session_factory, ws, NOW + timedelta(seconds=31)).sent == 2
    assert len(mail.mailbox.accepted) == 2


def test_a_relay_that_is_down_is_retried_then_dead_lettered(
    session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    ws, contacts = workspace(session_factory, mail)
    mail.stop()
    queue(session_factory, ws, contacts[:1])
    assert deliver(session_factory, ws).retrying == 1
    assert deliver(session_factory, ws, NOW + timedelta(minutes=1)).failed == 1
    with transaction(session_factory, workspace_id=ws) as session:
        row = session.scalars(select(Delivery)).one()
        assert (row.status, row.rule, row.attempts) == ("failed", "dead_letter", 2)
        assert "ConnectionRefusedError" in (row.reason or "")


def test_a_broken_hand_over_is_reconciled_through_the_lookup_and_not_resent(
    session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    ws, contacts = workspace(session_factory, mail, lookup_url=mail.lookup_url, lookup_token="t0ken")
    mail.mailbox.data_script = ["drop"]  # the relay took the first message; its answer never came
    queue(session_factory, ws, contacts[:2])
    with transaction(session_factory, workspace_id=ws) as session:
        killed = session.scalars(select(Delivery).order_by(Delivery.id)).all()[1]
        killed.status, killed.sent_at, killed.attempts = "sending", NOW - timedelta(minutes=10), 1  # a lost worker
    report = deliver(session_factory, ws)
    # the killed worker's message: unknown, never received by the relay, so sent again; the first: unknown
    assert (report.unknown, report.reconciled, report.sent) == (2, 1, 1)
    assert [s for s, _ in states(session_factory, ws)] == ["unknown", "sent"]
    report = deliver(session_factory, ws, NOW + timedelta(seconds=1))
    assert (report.reconciled, report.sent) == (1, 1)
    found = states(session_factory, ws)
    assert found[0] == ("sent", "reconciled: the relay had accepted it")
    assert found[1] == ("sent", None)
    assert sorted(mail.mailbox.message_ids().values()) == [1, 1]  # each message reached the relay once
    assert len(mail.lookups) == 2


def test_a_lost_message_the_relay_never_got_is_sent_again(
    session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    ws, contacts = workspace(session_factory, mail, lookup_url=mail.lookup_url)
    queue(session_factory, ws, contacts[:1])
    with transaction(session_factory, workspace_id=ws) as session:
        row = session.scalars(select(Delivery)).one()
        row.status, row.sent_at, row.attempts = "sending", NOW - timedelta(minutes=10), 1
    report = deliver(session_factory, ws)
    assert (report.unknown, report.reconciled, report.sent) == (1, 1, 1)
    assert list(mail.mailbox.message_ids().values()) == [1]


def test_without_a_lookup_unknown_waits_for_an_operator(
    session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    ws, contacts = workspace(session_factory, mail)
    mail.mailbox.data_script = ["drop"]
    queue(session_factory, ws, contacts[:1])
    deliver(session_factory, ws)
    assert deliver(session_factory, ws, NOW + timedelta(hours=1)).sent == 0  # never blindly resent
    assert states(session_factory, ws)[0][0] == "unknown"
    with transaction(session_factory, workspace_id=ws) as session:
        row_id = session.scalars(select(Delivery.id)).one()
        with pytest.raises(InvalidInput):
            calling.resolve(session, row_id, "maybe", NOW)
        calling.resolve(session, row_id, "resend", NOW)
        with pytest.raises(Conflict):
            calling.resolve(session, row_id, "sent", NOW)
    assert deliver(session_factory, ws, NOW + timedelta(hours=1)).sent == 1
    assert list(mail.mailbox.message_ids().values()) == [2]  # the operator chose to send it again


def test_opt_out_after_queueing_holds_and_rate_limit(session_factory: sessionmaker[Session], mail: MailServer) -> None:
    ws, contacts = workspace(session_factory, mail)
    queue(session_factory, ws, contacts[:3])
    with transaction(session_factory, workspace_id=ws) as session:
        session.add(
            ConsentRecord(
                contact_id=contacts[0],
                purpose="marketing",
                granted=False,
                channel="email",
                source="test",
                recorded_at=NOW,
            )
        )
        channels.set_channel(session, ws, "email", {**mail.settings(), "per_minute": 1})
    report = deliver(session_factory, ws)
    assert (report.blocked, report.sent) == (1, 1)
    assert deliver(session_factory, ws, NOW + timedelta(seconds=30)).sent == 0  # one a minute
    assert deliver(session_factory, ws, NOW + timedelta(seconds=61)).sent == 1
    assert [s for s, _ in states(session_factory, ws)] == ["blocked", "sent", "sent"]


def test_email_settings_are_validated_and_secrets_kept(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_email({"host": "", "from_address": "nobody", "security": "tls", "lookup_url": "ftp://x"})
    assert {p.field for p in caught.value.errors} == {
        "email.host",
        "email.from_address",
        "email.security",
        "email.lookup_url",
    }
    ws = create_workspace(session_factory).id
    with transaction(session_factory, workspace_id=ws) as session:
        settings = {"host": "smtp.brand.example", "from_address": "a@brand.example", "username": "a", "password": "pw"}
        assert channels.set_channel(session, ws, "email", settings)["password_set"] is True
        again = channels.set_channel(session, ws, "email", {**settings, "password": None} | {"port": 465})
        assert again["password_set"] is False  # set to null on purpose: cleared
        channels.set_channel(session, ws, "email", settings)
        kept = channels.set_channel(session, ws, "email", {k: v for k, v in settings.items() if k != "password"})
        assert kept["password_set"] is True  # left out: kept
        with pytest.raises(InvalidInput):
            channels.set_channel(session, ws, "telegraph", {})


def test_under_the_rate_limit_service_goes_before_marketing(
    session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    ws, contacts = workspace(session_factory, mail, per_minute=1)
    queue(session_factory, ws, contacts[:1])  # marketing, queued first
    with transaction(session_factory, workspace_id=ws) as session:
        urgent = ledger.Message(contacts[1], "svc", "test", "email", {"text": "订单已发货"}, Priority.service)
        ledger.queue(session, [urgent], parse_governance(None), "Asia/Shanghai", NOW)
    assert deliver(session_factory, ws).sent == 1
    assert [str(m["To"]) for m in mail.mailbox.accepted] == ["buyer1@example.com"]  # the service message
    assert deliver(session_factory, ws, NOW + timedelta(seconds=61)).sent == 1

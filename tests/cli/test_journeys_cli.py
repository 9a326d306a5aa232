"""``siyu journeys`` as a user meets it: YAML files in, one-line errors, exit codes, drafts kept."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import siyu

GOOD = """
version: 1
trigger: {type: event, event: contact_added}
start: hello
nodes:
  hello: {type: send, channel: outbox, content: {text: 你好}, next: done}
  done: {type: exit}
"""


def test_validate_save_publish_install_and_show(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert siyu("init", data_dir=data).returncode == 0
    assert siyu("workspace", "create", "--slug", "lanji", "--name", "澜肌", data_dir=data).returncode == 0
    good = tmp_path / "hello.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("next: done", "next: nowhere"), encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("nodes: [\n", encoding="utf-8")

    ok = siyu("journeys", "validate", "-w", "lanji", str(good), data_dir=data)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid" in ok.stdout
    refused = siyu("journeys", "validate", "-w", "lanji", str(bad), data_dir=data)
    assert refused.returncode == 1
    assert "definition.nodes.hello.next: no node 'nowhere'" in refused.stdout
    unreadable = siyu("journeys", "validate", "-w", "lanji", str(broken), data_dir=data)
    assert unreadable.returncode == 1
    assert "line 2" in unreadable.stderr

    kept = siyu("journeys", "save", "-w", "lanji", "--name", "欢迎", "--publish", str(bad), data_dir=data)
    assert kept.returncode == 1  # cannot publish …
    assert "draft saved with 1 problem(s)" in kept.stdout  # … but the draft is kept
    saved = siyu("journeys", "save", "-w", "lanji", "--name", "欢迎", "--publish", str(good), data_dir=data)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "published as version 1" in saved.stdout

    installed = siyu("journeys", "install", "-w", "lanji", "birthday", data_dir=data)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "生日礼遇" in installed.stdout
    assert "优惠券" in installed.stdout  # the coupon step is left out, and said so
    listed = siyu("journeys", "list", "-w", "lanji", data_dir=data)
    assert "欢迎" in listed.stdout
    assert "active" in listed.stdout
    assert "draft" in listed.stdout
    shown = siyu("journeys", "show", "-w", "lanji", "1", "--version", "1", data_dir=data)
    assert shown.returncode == 0
    assert "channel: outbox" in shown.stdout
    missing = siyu("journeys", "show", "-w", "lanji", "1", "--version", "7", data_dir=data)
    assert missing.returncode == 1
    assert "no version 7" in missing.stderr


def test_broadcast_forecast_send_ledger_and_tasks(tmp_path: Path) -> None:
    from sqlalchemy import select

    from siyu.kit.db import make_engine, make_sessionmaker, transaction
    from siyu.kit.time import utcnow
    from siyu.models import ConsentRecord, Contact, Segment, SegmentMember, Workspace

    data = tmp_path / "data"
    assert siyu("init", data_dir=data).returncode == 0
    assert siyu("workspace", "create", "--slug", "lanji", "--name", "澜肌", data_dir=data).returncode == 0
    engine = make_engine(f"sqlite:///{data / 'siyu.db'}")
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        ws = session.scalars(select(Workspace.id).where(Workspace.slug == "lanji")).one()
    with transaction(factory, workspace_id=ws) as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        workspace.governance = {"quiet_hours": {"enabled": False}}
        contacts = [Contact(properties={}) for _ in range(3)]
        segment = Segment(name="老客", kind="dynamic", definition={"version": 1}, created_by="test")
        session.add_all([*contacts, segment])
        session.flush()
        session.add_all(
            SegmentMember(segment_id=segment.id, contact_id=c.id, since_refresh=1, entered_at=utcnow())
            for c in contacts
        )
        session.add(
            ConsentRecord(
                contact_id=contacts[0].id, purpose="marketing", granted=False, source="t", recorded_at=utcnow()
            )
        )
        segment_id = str(segment.id)
    engine.dispose()

    common = ("-w", "lanji", "--segment", segment_id, "--text", "秋冬上新")
    outlook = siyu("broadcast", "forecast", *common, data_dir=data)
    assert outlook.returncode == 0, outlook.stdout + outlook.stderr
    assert "audience 3: send now 2, deferred by quiet hours 0, blocked: opt_out 1" in outlook.stdout
    sent = siyu("broadcast", "send", *common, "--key", "autumn", data_dir=data)
    assert "broadcast autumn: 3 ledger rows written" in sent.stdout, sent.stdout + sent.stderr
    again = siyu("broadcast", "send", *common, "--key", "autumn", data_dir=data)
    assert "broadcast autumn: 0 ledger rows written" in again.stdout
    ledger = siyu("journeys", "ledger", "-w", "lanji", "--status", "blocked", data_dir=data)
    assert "1 deliveries" in ledger.stdout
    assert "opt_out" in ledger.stdout
    assert "broadcast:autumn" in ledger.stdout
    assert "0 tasks" in siyu("journeys", "tasks", "-w", "lanji", "--overdue", data_dir=data).stdout
    wrong = siyu("broadcast", "forecast", *common, "--priority", "urgent", data_dir=data)
    assert wrong.returncode != 0
    assert "--priority: one of service, transactional, marketing" in wrong.stderr
    nowhere = siyu("broadcast", "forecast", "-w", "lanji", "--segment", "999", "--text", "x", data_dir=data)
    assert nowhere.returncode != 0
    assert "no segment 999" in nowhere.stderr
    offline = siyu("broadcast", "send", *common, "--key", "mail", "--channel", "email", data_dir=data)
    assert offline.returncode != 0
    assert "channel 'email' is not set up" in offline.stderr

    settings = tmp_path / "email.yaml"
    settings.write_text("host: smtp.brand.example\nfrom_address: hi@brand.example\npassword: pw\n", encoding="utf-8")
    made = siyu("channels", "set", "-w", "lanji", "email", str(settings), data_dir=data)
    assert made.returncode == 0, made.stdout + made.stderr
    assert '"password_set": true' in made.stdout
    assert '"pw"' not in made.stdout
    shown = siyu("channels", "show", "-w", "lanji", data_dir=data)
    assert '"available": [\n    "email",\n    "outbox"\n  ]' in shown.stdout
    settings.write_text("host: smtp.brand.example\nfrom_address: nobody\n", encoding="utf-8")
    bad = siyu("channels", "set", "-w", "lanji", "email", str(settings), data_dir=data)
    assert bad.returncode != 0
    assert "email.from_address" in bad.stderr
    unknown = siyu("channels", "set", "-w", "lanji", "telegraph", str(settings), data_dir=data)
    assert unknown.returncode != 0
    assert "channel" in unknown.stderr

"""Channel plugins: the built-ins come through the ``siyu.channels`` entry points, a third-party package
is found the same way, broken plugins are left out, and saved secrets are sealed, masked and kept."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from siyu.dispatch import calling, channels, plugins
from siyu.errors import InvalidInput, NotFound
from siyu.kit.db import transaction
from siyu.kit.sealed import SealBroken, is_sealed, seal
from siyu.kit.time import utcnow
from siyu.models import Workspace
from tests.factories import create_workspace

PLUGIN = """
from typing import ClassVar
from pydantic import BaseModel
from siyu.dispatch.calling import CallChannel


class PigeonSettings(BaseModel):
    secrets: ClassVar[tuple[str, ...]] = ("ring",)
    loft: str
    ring: str
    per_minute: int = 5
    max_attempts: int = 2


class Pigeon(CallChannel):
    name = "pigeon"
    title = "Carrier pigeon"
    settings_model = PigeonSettings

    def items(self, session, settings, rows, now):
        return [{"id": r.id} for r in rows]

    def connect(self, settings, now):
        from contextlib import nullcontext
        return nullcontext(lambda items: [("sent", "") for _ in items])

    def reconcile(self, settings, rows):
        return {}

    def test_connection(self, settings):
        return f"the loft {settings.loft} is open"
"""


@pytest.fixture
def third_party(tmp_path: Path) -> Iterator[None]:
    """An installed package ``siyu_pigeon`` with its entry point, as pip would leave it."""
    (tmp_path / "siyu_pigeon.py").write_text(PLUGIN)
    info = tmp_path / "siyu_pigeon-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: siyu-pigeon\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[siyu.channels]\npigeon = siyu_pigeon:Pigeon\nbroken = siyu_pigeon:Missing\n"
    )
    sys.path.insert(0, str(tmp_path))
    plugins.registry.cache_clear()
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("siyu_pigeon", None)
    plugins.registry.cache_clear()


def test_the_built_ins_are_plugins() -> None:
    found = plugins.registry()
    assert {"email", "webhook"} <= set(found)
    assert plugins.channel("email").name == "email"
    schema = plugins.schema("email")
    assert schema["settings"]["properties"]["password"]["writeOnly"] is True
    assert "writeOnly" not in schema["settings"]["properties"]["host"]
    assert "send" in schema["capabilities"]


def test_unknown_channel_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        plugins.channel("telegraph")
    assert caught.value.errors[0].field == "channel"
    assert "email" in caught.value.errors[0].reason


def test_a_third_party_channel_is_found_and_a_broken_one_left_out(
    third_party: None, session_factory: sessionmaker[Session]
) -> None:
    assert "pigeon" in plugins.names()
    assert "broken" not in plugins.names()
    ws = create_workspace(session_factory).id
    with transaction(session_factory, workspace_id=ws) as session:
        shown = channels.set_channel(session, ws, "pigeon", {"loft": "north", "ring": "r-123456"})
        assert shown == {"loft": "north", "per_minute": 5, "max_attempts": 2, "ring_set": True}
        assert channels.test_channel(session, ws, "pigeon")["detail"] == "the loft north is open"
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        assert "pigeon" in channels.configured(workspace)


def test_secrets_are_sealed_at_rest_masked_and_kept(session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory).id
    settings: dict[str, Any] = {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret-s3cret"}
    with transaction(session_factory, workspace_id=ws) as session:
        channels.set_channel(session, ws, "webhook", settings)
    with transaction(session_factory, workspace_id=ws) as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        saved = workspace.channels["webhook"]
        assert is_sealed(saved["secret"])
        assert "s3cret" not in str(workspace.channels)
        assert channels.shown_all(workspace)["webhook"]["secret_set"] is True
        assert "secret" not in channels.shown_all(workspace)["webhook"]
        # a secret left out keeps the saved one, unsealed for the channel
        channels.set_channel(session, ws, "webhook", {"url": "http://127.0.0.1:9/other"})
        assert channels.settings_for(session, ws, "webhook").secret == "s3cret-s3cret-s3cret"
        with pytest.raises(NotFound):
            channels.settings_for(session, ws, "email")


def test_a_secret_sealed_under_another_key_asks_for_itself_again(session_factory: sessionmaker[Session]) -> None:
    """After SIYU_SECRET_KEY changes, saving the channel without its secret names the field to enter again,
    the console shows the problem, a callback or connection test gets a 409, and the dispatcher's pass goes
    on without that channel."""
    ws = create_workspace(session_factory).id
    with transaction(session_factory, workspace_id=ws) as session:
        channels.set_channel(session, ws, "webhook", {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret-s3"})
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        saved = dict(workspace.channels["webhook"])
        workspace.channels = {"webhook": {**saved, "secret": seal("s3cret-s3cret-s3", "some-other-secret-key")}}
    with transaction(session_factory, workspace_id=ws) as session:
        with pytest.raises(InvalidInput) as caught:
            channels.set_channel(session, ws, "webhook", {"url": "http://127.0.0.1:9/other"})
        assert [p.field for p in caught.value.errors] == ["secret"]
        with pytest.raises(SealBroken) as broken:
            channels.settings_for(session, ws, "webhook")
        assert broken.value.status == 409
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        assert "another SIYU_SECRET_KEY" in channels.shown_all(workspace)["webhook"]["problem"]
    assert channels.deliver_all(session_factory, ws, utcnow()) == calling.ChannelReport()
    with transaction(session_factory, workspace_id=ws) as session:
        channels.set_channel(session, ws, "webhook", {"url": "http://127.0.0.1:9/other", "secret": "entered-again-123"})
        assert channels.settings_for(session, ws, "webhook").secret == "entered-again-123"

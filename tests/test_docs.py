"""The references are generated from the code; a setting, command or permission without documentation,
or a stale generated file, fails here."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from siyu.cli import app
from siyu.cli.docgen import DOCS, GENERATED
from siyu.config import Settings


@pytest.mark.parametrize("filename", sorted(GENERATED))
def test_generated_reference_is_current(filename: str) -> None:
    committed = (DOCS / filename).read_text()
    assert committed == GENERATED[filename](), f"docs/{filename} is stale: run `make docs`"


def test_every_setting_is_described() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if len(field.description or "") < 15]
    assert undocumented == []
    settings_doc = (DOCS / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"`SIYU_{name.upper()}`" in settings_doc


def _walk(cmd: Any, path: str) -> list[tuple[str, Any]]:
    found = [(path, cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        found += _walk(sub, f"{path} {name}")
    return found


def test_every_command_and_option_has_help() -> None:
    cli_doc = (DOCS / "cli.md").read_text()
    for path, cmd in _walk(typer.main.get_command(app), "siyu"):
        assert (cmd.help or "").strip(), f"{path} has no help"
        assert f"## `{path}`" in cli_doc
        for param in cmd.params:
            if param.param_type_name == "option" and param.name != "help":
                assert (param.help or "").strip(), f"{path} {param.opts} has no help"


def test_every_permission_is_documented() -> None:
    from siyu.auth.permissions import Permission, Role

    roles_doc = (DOCS / "roles.md").read_text()
    for perm in Permission:
        assert f"| `{perm.value}` |" in roles_doc
    for role in Role:
        assert f"`{role.value}`" in roles_doc


def test_handwritten_docs_exist_and_link() -> None:
    for page in ("architecture.md", "contributing.md"):
        assert len((DOCS / page).read_text()) > 1000, page
    readme = (DOCS.parent / "README.md").read_text()
    head = "\n".join(readme.splitlines()[:40])
    assert "make demo" in head
    assert "make test" in head

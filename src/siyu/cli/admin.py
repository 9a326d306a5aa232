"""Administration commands: workspaces, operators and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from siyu.auth.permissions import Permission, Role
from siyu.cli.common import CliError, open_store, settings_of, unit_of_work, workspace_by_slug
from siyu.models import Workspace
from siyu.workspace import service
from siyu.workspace.schemas import MemberCreate, TokenCreate, WorkspaceCreate

user_app = typer.Typer(help="Operators who sign in to the console.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for integrations.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces (one brand each).", no_args_is_help=True)
console = Console()


@workspace_app.command("create")
def workspace_create(
    ctx: typer.Context,
    slug: Annotated[str, typer.Option(help="Short id: lowercase letters, digits and dashes.")],
    name: Annotated[str, typer.Option(help="Display name, e.g. the brand.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "Asia/Shanghai",
    locale: Annotated[str, typer.Option(help="Console language: zh_CN or en.")] = "zh_CN",
) -> None:
    """Create a workspace."""
    _, factory = open_store(settings_of(ctx))
    data = WorkspaceCreate(slug=slug, name=name, timezone=timezone, locale=locale)
    with unit_of_work(factory) as session:
        ws = service.create_workspace(session, data, actor_label="cli")
    console.print(f"created workspace [bold]{ws.slug}[/] (id {ws.id})")


@workspace_app.command("list")
def workspace_list(ctx: typer.Context) -> None:
    """List workspaces."""
    _, factory = open_store(settings_of(ctx))
    table = Table("id", "slug", "name", "time zone")
    with unit_of_work(factory) as session:
        for ws in session.scalars(select(Workspace).order_by(Workspace.id)):
            table.add_row(str(ws.id), ws.slug, ws.name, ws.timezone)
    console.print(table)


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="Sign-in e-mail.")],
    workspace: Annotated[str, typer.Option(help="Slug of the workspace to join.")],
    role: Annotated[Role, typer.Option(help="Role in that workspace.")] = Role.owner,
    name: Annotated[str | None, typer.Option(help="Display name (defaults to the e-mail).")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password (at least 10 characters); asked for when omitted.", show_default=False),
    ] = None,
    can_unmask_pii: Annotated[bool, typer.Option(help="May see unmasked personal data.")] = False,
) -> None:
    """Create an operator (or add an existing one) as a member of a workspace."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    data = MemberCreate(
        email=email, display_name=name or email, role=role, password=password, can_unmask_pii=can_unmask_pii
    )
    _, factory = open_store(settings_of(ctx))
    ws = workspace_by_slug(factory, workspace)
    with unit_of_work(factory, ws.id) as session:
        member = service.add_member(session, None, data, workspace_id=ws.id, actor_label="cli")
    console.print(f"{member.email} is now {member.role.value} of {ws.slug}")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Option(help="Slug of the workspace the token acts in.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scope: Annotated[
        list[str],
        typer.Option(help="Permission granted to the token; repeat for several (e.g. ingest:write)."),
    ],
) -> None:
    """Create an API token and print its secret (shown once)."""
    unknown = [s for s in scope if s not in Permission._value2member_map_]
    if unknown:
        known = ", ".join(p.value for p in Permission)
        raise CliError(f"unknown scope {unknown[0]!r}; known scopes: {known}", exit_code=2)
    _, factory = open_store(settings_of(ctx))
    ws = workspace_by_slug(factory, workspace)
    data = TokenCreate(name=name, scopes=[Permission(s) for s in scope])
    with unit_of_work(factory, ws.id) as session:
        token, secret = service.create_token(session, None, data, workspace_id=ws.id, actor_label="cli")
    console.print(f"token {token.id} ({', '.join(token.scopes)}) for {ws.slug}:")
    typer.echo(secret)

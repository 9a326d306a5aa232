"""The console's router: every page module's routes, HTML only and kept out of the OpenAPI schema."""

from fastapi import APIRouter

from siyu.console.pages import (
    audit,
    board,
    channels,
    contacts,
    home,
    imports,
    jobs,
    journeys,
    members,
    segments,
    signin,
    tags,
    tiers,
    tokens,
    workspace_settings,
)

router = APIRouter(include_in_schema=False)
_PAGES = (
    signin,
    home,
    board,
    contacts,
    tags,
    segments,
    tiers,
    journeys,
    channels,
    imports,
    members,
    tokens,
    audit,
    jobs,
    workspace_settings,
)
for _module in _PAGES:
    router.include_router(_module.router)

"""The console's router: every page module's routes, HTML only and kept out of the OpenAPI schema."""

from fastapi import APIRouter

from siyu.console.pages import audit, contacts, home, imports, jobs, members, signin, tokens, workspace_settings

router = APIRouter(include_in_schema=False)
for _module in (signin, home, contacts, imports, members, tokens, audit, jobs, workspace_settings):
    router.include_router(_module.router)

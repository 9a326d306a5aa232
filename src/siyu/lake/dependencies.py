"""The analytics store of the running app, for request handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from siyu.lake.store import Lake


def get_lake(request: Request) -> Lake:
    lake: Lake = request.app.state.lake
    return lake


LakeDep = Annotated[Lake, Depends(get_lake)]

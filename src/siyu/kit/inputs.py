"""Request value types that stay inside what both databases store, so bad input is a 422 naming the
field rather than a database error and a 500: integers within BIGINT, and text without NUL characters
(PostgreSQL refuses them in text columns and in query parameters)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

BIGINT_MAX = 2**63 - 1


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NO_NUL = AfterValidator(_no_nul)
"""Metadata for ``Annotated[str | None, Query(...), NO_NUL]`` where ``Text`` cannot be used."""

Text = Annotated[str, NO_NUL]
"""A string that can be stored in, and compared with, any text column."""

RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
"""The id of a row: a positive 64-bit integer."""

RowOffset = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
"""How many rows to skip when paging."""

"""Placeholder router until the console pages land (replaced in this same change)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

"""Demo workspaces: a deterministic, seed-calibrated brand (美妆, 母婴, 咖啡 or 教育) of 1k to 10M contacts
with a year of orders, messages, group activity, content opens and referrals. See docs/demo.md.

The generator (numpy) loads on first use, so importing the presets (as the CLI does) stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from siyu.demo.presets import PRESETS, Industry, Preset

if TYPE_CHECKING:
    from siyu.demo.generator import DemoConfig, Summary, existing, generate

_LAZY = frozenset({"DemoConfig", "Summary", "existing", "generate"})


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from siyu.demo import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'siyu.demo' has no attribute {name!r}")


def preset_of(industry: Industry) -> Preset:
    return PRESETS[industry]


__all__ = ["PRESETS", "DemoConfig", "Industry", "Preset", "Summary", "existing", "generate", "preset_of"]

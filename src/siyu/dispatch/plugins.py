"""Channel plugins: every outbound channel, the built-ins too, is a :class:`~siyu.dispatch.calling.CallChannel`
registered under the ``siyu.channels`` entry point group (``name = "package.module:ChannelClass"``), so a
third party adds a channel by installing a package and the built-ins exercise the same path.

A plugin's ``settings_model`` is its configuration schema: :func:`schema` marks the ``secrets`` fields
``writeOnly`` (sealed at rest, never shown back).
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points
from typing import Any

from siyu.dispatch.calling import CallChannel
from siyu.errors import InvalidInput

GROUP = "siyu.channels"
OUTBOX = "outbox"  # the ledger's own channel: always there, never calls out
log = logging.getLogger("siyu.channels")


@functools.cache
def registry() -> dict[str, type[CallChannel]]:
    """The installed channel plugins by name. A plugin that fails to load is logged and left out; two
    plugins of one name are an installation error."""
    found: dict[str, type[CallChannel]] = {}
    for point in entry_points(group=GROUP):
        try:
            cls = point.load()
        except Exception:  # a broken third-party package must not take the dispatcher down
            log.exception("channel plugin %s could not be loaded", point.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, CallChannel)) or cls.name != point.name:
            log.error("channel plugin %s is not a CallChannel named %r", point.value, point.name)
            continue
        if point.name in found and found[point.name] is not cls:
            raise RuntimeError(f"two channel plugins are named {point.name!r}: {found[point.name]} and {cls}")
        found[point.name] = cls
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(registry())


def channel(name: str) -> CallChannel:
    """A new instance of the plugin ``name``; an unknown name is refused with the known ones."""
    cls = registry().get(name)
    if cls is None:
        raise InvalidInput.on("channel", f"one of {', '.join(names())}")
    return cls()


def schema(name: str) -> dict[str, Any]:
    """The JSON schema of a channel's settings, its secrets marked ``writeOnly``."""
    cls = registry().get(name)
    if cls is None:
        raise InvalidInput.on("channel", f"one of {', '.join(names())}")
    model = cls.settings_model
    out = model.model_json_schema()
    for secret in getattr(model, "secrets", ()):
        out["properties"][secret]["writeOnly"] = True
    return {
        "name": name,
        "title": cls.title or name,
        "capabilities": sorted(cls.capabilities),
        "settings": out,
    }

"""The seeds' journeys, ready to install (``siyu journeys templates``, the console's template list).
Each is a YAML file beside this module: ``key``, ``name``, ``description`` and the ``definition``.

Actions of capabilities not built yet (coupons, points: the activities capability) stay in the files,
so that each template is the seed's whole SOP; installing leaves them out, joins their neighbours, and
says so in plain words (:func:`without_unavailable`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from siyu.errors import NotFound
from siyu.journey import definition as jd

_LEAVE_OUT = {"coupon": "优惠券", "points": "积分"}


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    definition: dict[str, Any]


@cache
def _all() -> dict[str, Template]:
    found: dict[str, Template] = {}
    for item in sorted(resources.files(__package__).iterdir(), key=lambda f: f.name):
        if item.name.endswith(".yaml"):
            raw = yaml.safe_load(item.read_text(encoding="utf-8"))
            jd.parse(raw["definition"], f"templates.{raw['key']}")  # a broken template is a bug: fail loudly
            found[raw["key"]] = Template(raw["key"], raw["name"], raw["description"].strip(), raw["definition"])
    return found


def all_templates() -> list[Template]:
    return list(_all().values())


def get(key: str) -> Template:
    found = _all().get(key)
    if found is None:
        raise NotFound(f"no journey template {key!r}; the templates are {', '.join(_all())}")
    return found


def without_unavailable(template: Template) -> tuple[dict[str, Any], list[str]]:
    """The template's definition less the actions of capabilities not built yet: each such node's
    predecessors lead to its ``next`` instead. Returns the definition and one notice per node left out."""
    definition = copy.deepcopy(template.definition)
    nodes: dict[str, dict[str, Any]] = definition["nodes"]
    notices: list[str] = []
    for node_id in [n for n, node in nodes.items() if node["type"] in jd.NOT_YET]:
        node = nodes.pop(node_id)
        follower = node.get("next")
        for other in nodes.values():
            _redirect(other, node_id, follower)
        if definition["start"] == node_id:
            definition["start"] = follower
        what = _LEAVE_OUT[node["type"]]
        label = node.get("label") or node_id
        notices.append(f"「{label}」({node['type']})暂未加入:{what}在活动能力上线后可用,届时可把这一步加回来。")
    return definition, notices


def _redirect(node: dict[str, Any], old: str, new: str | None) -> None:
    for key in ("next", "then", "else", "on_timeout"):
        if node.get(key) == old:
            node[key] = new
    for branch in node.get("branches", []):
        if branch.get("next") == old:
            branch["next"] = new

"""The reasons a contact's tier explanation gives (``siyu.tiers.explain``), in the page's language."""

from __future__ import annotations

import re
from typing import Final

from siyu.console.access import Page
from siyu.console.i18n import N_
from siyu.console.vocabulary import tier_label

_N = r"(?P<{0}>[\d,.\-—]+)"
_MONEY = r"(?P<{0}>[\d,.\-]+元|—)"


def _p(template: str) -> re.Pattern[str]:
    def sub(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        return (_MONEY if kind == "money" else r"(?P<{0}>.+?)" if kind == "text" else _N).format(name)

    escaped = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile("^" + re.sub(r"\{(\w+):(\w+)\}", sub, escaped) + "$")


# The reasons ``siyu.tiers.explain`` gives, by their English wording; a reason not matched is shown as
# the service wrote it (still correct, only not translated).
_TIER_REASONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (
        _p("no order in the last {days:n} days: RFM scores only buyers in the window"),
        N_("No order in the last %(days)s days: RFM scores only buyers in the window"),
    ),
    (_p("R {score:n}: last order {days:n} days ago"), N_("R %(score)s: last order %(days)s days ago")),
    (
        _p("F {score:n}: {orders:n} orders in the last {days:n} days"),
        N_("F %(score)s: %(orders)s orders in the last %(days)s days"),
    ),
    (
        _p("M {score:n}: {amount:money} net in the last {days:n} days"),
        N_("M %(score)s: %(amount)s net in the last %(days)s days"),
    ),
    (
        _p("a score of {high:n} or more counts as high: R {r:text}, F {f:text}, M {m:text} → {cell:text}"),
        N_("A score of %(high)s or more counts as high: R %(r)s, F %(f)s, M %(m)s → %(cell)s"),
    ),
    (
        _p("scores: 1 + floor(5 × buyers with a worse value / buyers); equal values share a score"),
        N_("Scores: 1 + floor(5 × buyers with a worse value / buyers); equal values share a score"),
    ),
    (
        _p("{tier:text}: {orders:n} orders in 30 days (needs {need:n}) {mark:text}"),
        N_("%(tier)s: %(orders)s orders in 30 days (needs %(need)s) %(mark)s"),
    ),
    (
        _p("{tier:text}: {amount:money} spent in total (needs {need:money}) {mark:text}"),
        N_("%(tier)s: %(amount)s spent in total (needs %(need)s) %(mark)s"),
    ),
    (
        _p("{tier:text}: interacted on {days:n} of the last 30 days (needs {need:n}) {mark:text}"),
        N_("%(tier)s: interacted on %(days)s of the last 30 days (needs %(need)s) %(mark)s"),
    ),
    (
        _p("last interaction or order {since:text} days ago; joined {joined:text} days ago"),
        N_("Last interaction or order %(since)s days ago; joined %(joined)s days ago"),
    ),
    (
        _p("no interaction or order yet; joined {joined:text} days ago"),
        N_("No interaction or order yet; joined %(joined)s days ago"),
    ),
    (
        _p("the contact deleted the staff member (contact_deleted after the last contact_added)"),
        N_("The contact deleted the staff member (contact_deleted after the last contact_added)"),
    ),
    (
        _p(
            "stages: churned after {churned:n} days, new within {new:n} days of joining, high_value from "
            "{high:money} in 365 days, active within {active:n}, silent until {dormant:n}, then dormant"
        ),
        N_(
            "Stages: churned after %(churned)s days, new within %(new)s days of joining, high value from "
            "%(high)s in 365 days, active within %(active)s, silent until %(dormant)s, then dormant"
        ),
    ),
    (
        _p("{amount:money} in the last 365 days (high_net from {need:money})"),
        N_("%(amount)s in the last 365 days (high net worth from %(need)s)"),
    ),
    (
        _p(
            "{recent:money} in the last {days:n} days vs {before:money} in the {days2:n} before "
            "(potential from ×{growth:n})"
        ),
        N_("%(recent)s in the last %(days)s days vs %(before)s in the %(days2)s before (potential from ×%(growth)s)"),
    ),
    (
        _p("interacted on {active:n} of the last {days:n} days (weekly_active from 1)"),
        N_("Interacted on %(active)s of the last %(days)s days (weekly active from 1)"),
    ),
    (
        _p("last interaction {since:text} days ago (lost after {days:n})"),
        N_("Last interaction %(since)s days ago (lost after %(days)s)"),
    ),
    (
        _p("no interaction in the last {window:n} days (lost after {days:n})"),
        N_("No interaction in the last %(window)s days (lost after %(days)s)"),
    ),
    (
        _p("no prediction: no purchase yet, or too little history to fit"),
        N_("No prediction: no purchase yet, or too little history to fit"),
    ),
    (
        _p("expected {purchases:n} purchases in the next {days:n} days (BG/NBD), P(still a customer) {p:text}"),
        N_("Expected %(purchases)s purchases in the next %(days)s days (BG/NBD), P(still a customer) %(p)s"),
    ),
    (
        _p("× expected value per purchase (Gamma-Gamma) = {amount:money}"),
        N_("× expected value per purchase (Gamma-Gamma) = %(amount)s"),
    ),
)
_TIER_WORDS: Final[dict[str, str]] = {
    "high": N_("high"),
    "low": N_("low"),
    "vip": N_("VIP"),
    "active": N_("Active customer"),
}


def _reason_value(page: Page, name: str, value: str) -> str:
    if value in _TIER_WORDS:
        return page.gettext(_TIER_WORDS[value])
    if name == "cell":
        return tier_label(page, "rfm", value)
    return "—" if value == "None" else value  # a contact never touched: "None days ago"


def tier_reason(page: Page, reason: str) -> str:
    """One reason of a contact's tier explanation in the page's language."""
    for pattern, message in _TIER_REASONS:
        found = pattern.match(reason)
        if found:
            values = {k: _reason_value(page, k, v) for k, v in found.groupdict().items()}
            return page.gettext(message, **values)
    return reason

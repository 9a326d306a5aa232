"""Contacts (用户): the user pool with search and filters, a contact's profile and timeline, and manual
merges (preview, confirm, undo).

Personal data is masked on every page; members with ``pii:unmask`` get a "show in full" link, and
each unmasked view is written to the audit log by the service.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Final

from fastapi import Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from siyu.auth.permissions import Permission
from siyu.console import tier_reasons, vocabulary
from siyu.console.access import Page, PageAccess, PageForbidden
from siyu.console.forms import FormErrors, from_service, from_validation
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, pager, render
from siyu.contact import catalogue, merges, service
from siyu.contact.schemas import ContactProfile, MergePair, MergePreview, MergeRequest, TimelinePage
from siyu.contact.service import ContactFilters, ContactMerged
from siyu.errors import InvalidInput, NotFound, SiyuError
from siyu.identity.keys import IdentityKind
from siyu.kit.inputs import BIGINT_MAX, NO_NUL, RowId, RowOffset
from siyu.segment import repository as segment_repository
from siyu.tag import repository as tag_repository
from siyu.tiers import service as tiers_service

router = console_router()
P = Permission

ContactsReader = Annotated[Page, Depends(PageAccess(P.contacts_read, form=False))]
ContactsWriter = Annotated[Page, Depends(PageAccess(P.contacts_write, form=True))]

PAGE_SIZE = 50
TIMELINE_SIZE = 20
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

NOTICES: Final = {
    "merged": N_("Contacts merged. The merge can be undone from the merge history below."),
    "unmerged": N_("Merge undone: the contacts are separate again."),
}

GENDER_LABELS: Final = {"male": N_("Male"), "female": N_("Female"), "unknown": N_("Unknown")}

IDENTITY_KIND_LABELS: Final = {
    IdentityKind.wecom_external_userid.value: N_("WeCom customer"),
    IdentityKind.wx_openid.value: N_("WeChat OpenID"),
    IdentityKind.wx_unionid.value: N_("WeChat UnionID"),
    IdentityKind.phone.value: N_("Phone"),
    IdentityKind.email.value: N_("E-mail"),
    IdentityKind.buyer_id.value: N_("Platform buyer ID"),
}

SALES_CHANNEL_LABELS: Final = {
    "miniprogram": N_("Mini program"),
    "taobao": N_("Taobao"),
    "tmall": N_("Tmall"),
    "douyin": N_("Douyin"),
    "jd": N_("JD"),
    "pdd": N_("Pinduoduo"),
    "youzan": N_("Youzan"),
    "store": N_("Store"),
    "wecom": N_("WeCom"),
    "other": N_("Other"),
}

MOVE_LABELS: Final = {
    "identity": N_("Identities"),
    "event": N_("Events"),
    "order": N_("Orders"),
    "consent": N_("Consent records"),
}

FIELD_LABELS: Final = {
    "nickname": N_("Nickname"),
    "name": N_("Real name"),
    "gender": N_("Gender"),
    "birthday": N_("Birthday"),
    "region": N_("Region"),
    "first_source": N_("First source"),
    "first_channel_code": N_("Channel code"),
    "owner_staff_id": N_("Owner staff"),
}


yuan = vocabulary.yuan


def _labels() -> dict[str, Any]:
    return {
        "gender_labels": GENDER_LABELS,
        "identity_kind_labels": IDENTITY_KIND_LABELS,
        "sales_channel_labels": SALES_CHANNEL_LABELS,
        "move_labels": MOVE_LABELS,
        "field_labels": FIELD_LABELS,
        "yuan": yuan,
    }


# --- the list ---------------------------------------------------------------------------------


def _day(text: str, field: str, page: Page, errors: FormErrors) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.add(field, page.gettext(N_("Enter a valid date")))
        return None


@router.get("/contacts")
def contacts(
    request: Request,
    page: ContactsReader,
    q: Annotated[str, Query(max_length=256), NO_NUL] = "",
    source: Annotated[str, Query(max_length=64), NO_NUL] = "",
    channel_code: Annotated[str, Query(max_length=128), NO_NUL] = "",
    owner_staff: Annotated[str, Query(max_length=128), NO_NUL] = "",
    identity_kind: Annotated[str, Query(max_length=32)] = "",
    created_from: Annotated[str, Query(max_length=10)] = "",
    created_to: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[RowOffset, Query()] = 0,
) -> Response:
    form = {
        "q": q.strip(),
        "source": source.strip(),
        "channel_code": channel_code,
        "owner_staff": owner_staff,
        "identity_kind": identity_kind if identity_kind in IDENTITY_KIND_LABELS else "",
        "created_from": created_from,
        "created_to": created_to,
    }
    errors = FormErrors()
    start = _day(created_from, "created_from", page, errors)
    end = _day(created_to, "created_to", page, errors)
    if start and end and end < start:
        errors.add("created_to", page.gettext(N_("The end date is before the start date")))
        start = end = None
    filters = ContactFilters(
        q=form["q"] or None,
        source=form["source"] or None,
        channel_code=channel_code or None,
        owner_staff=owner_staff or None,
        identity_kind=IdentityKind(form["identity_kind"]) if form["identity_kind"] else None,
        created_from=start,
        created_to=end,
    )
    result = service.list_contacts(page.session, page.auth, filters, limit=PAGE_SIZE, offset=offset)
    staff = catalogue.list_staff(page.session)
    # HTMX asks for the table alone when a filter changes; a plain request gets the whole page.
    template = "partials/contact_table.html" if request.headers.get("hx-request") else "contacts.html"
    return render(
        page,
        template,
        422 if errors else 200,
        contacts=result.items,
        form=form,
        errors=errors,
        staff=staff,
        staff_names={s.id: s.name for s in staff},
        channel_codes=catalogue.list_channel_codes(page.session),
        pager=pager("/contacts", form, offset, result.total, PAGE_SIZE),
        **_labels(),
    )


# --- merges (before /contacts/{contact_id}, which would take "merge" for an id) ---------------


def _contact_number(text: str, field: str, page: Page, errors: FormErrors) -> int | None:
    text = text.strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= BIGINT_MAX:
        errors.add(field, page.gettext(N_("Enter a contact number, e.g. 1024")))
        return None
    return int(text)


def _merge_errors(page: Page, exc: SiyuError, pair: MergePair) -> FormErrors:
    """A refused preview or merge, worded for the form and put on the contact it is about."""
    errors = FormErrors()
    contact_id = exc.extra.get("contact_id")
    field = "survivor" if contact_id == pair.survivor_id else "merged"
    if isinstance(exc, ContactMerged):
        message = page.gettext(
            N_("This contact was merged into contact %(target)s; use that one instead."),
            target=exc.extra["merged_into_id"],
        )
        errors.add(field, message)
    elif isinstance(exc, NotFound) and contact_id is not None:
        errors.add(field, page.gettext(N_("No contact has this number")))
    elif isinstance(exc, InvalidInput) and any(p.field == "merged_id" for p in exc.errors):
        errors.add("merged", page.gettext(N_("A contact cannot be merged into itself")))
    else:
        errors = from_service(page, exc)
    return errors


def _merge_page(
    page: Page,
    *,
    form: dict[str, str],
    preview: MergePreview | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    staff = catalogue.list_staff(page.session)
    return render(
        page,
        "contacts_merge.html",
        status_code,
        form=form,
        preview=preview,
        errors=errors or FormErrors(),
        can_merge=page.can(P.contacts_write),
        staff_names={s.id: s.name for s in staff},
        **_labels(),
    )


@router.get("/contacts/merge")
def merge_preview(
    page: ContactsReader,
    survivor: Annotated[str, Query(max_length=24)] = "",
    merged: Annotated[str, Query(max_length=24)] = "",
) -> Response:
    form = {"survivor": survivor.strip(), "merged": merged.strip(), "reason": ""}
    errors = FormErrors()
    survivor_id = _contact_number(survivor, "survivor", page, errors)
    merged_id = _contact_number(merged, "merged", page, errors)
    if errors:
        return _merge_page(page, form=form, errors=errors, status_code=422)
    if survivor_id is None or merged_id is None:
        return _merge_page(page, form=form)
    pair = MergePair(survivor_id=survivor_id, merged_id=merged_id)
    try:
        preview = merges.preview_merge(page.session, pair)
    except SiyuError as exc:
        return _merge_page(page, form=form, errors=_merge_errors(page, exc, pair), status_code=exc.status)
    return _merge_page(page, form=form, preview=preview)


@router.post("/contacts/merge")
def merge(
    page: ContactsWriter,
    survivor_id: Annotated[str, Form(max_length=24)] = "",
    merged_id: Annotated[str, Form(max_length=24)] = "",
    reason: Annotated[str, Form(max_length=500), NO_NUL] = "",
) -> Response:
    form = {"survivor": survivor_id.strip(), "merged": merged_id.strip(), "reason": reason}
    errors = FormErrors()
    survivor = _contact_number(survivor_id, "survivor", page, errors)
    merged_contact = _contact_number(merged_id, "merged", page, errors)
    if survivor is None and "survivor" not in errors.fields:
        errors.add("survivor", page.gettext(N_("Required")))
    if merged_contact is None and "merged" not in errors.fields:
        errors.add("merged", page.gettext(N_("Required")))
    if errors or survivor is None or merged_contact is None:
        return _merge_page(page, form=form, errors=errors, status_code=422)
    try:
        data = MergeRequest(survivor_id=survivor, merged_id=merged_contact, reason=reason.strip() or None)
        merges.merge_contacts(page.session, page.auth, data)
    except ValidationError as exc:
        return _merge_page(page, form=form, errors=from_validation(page, exc), status_code=422)
    except SiyuError as exc:
        page.discard_changes()
        pair = MergePair(survivor_id=survivor, merged_id=merged_contact)
        return _merge_page(page, form=form, errors=_merge_errors(page, exc, pair), status_code=exc.status)
    return RedirectResponse(f"/contacts/{survivor}?notice=merged", status_code=303)


@router.post("/contacts/merges/{merge_id}/undo")
def undo_merge(page: ContactsWriter, merge_id: RowId) -> Response:
    record = merges.merge_record(page.session, merge_id)  # an unknown merge gets the 404 page
    try:
        merges.unmerge_contacts(page.session, page.auth, merge_id)
    except SiyuError as exc:
        page.discard_changes()
        if record.undone_at is not None:
            message = page.gettext(N_("This merge was already undone."))
        elif exc.extra.get("merged_into_id"):
            message = page.gettext(N_("The contact was merged again since: undo that later merge first."))
        else:
            message = from_service(page, exc).summary()
        return _profile_page(page, record.survivor_id, status_code=exc.status, page_error=message)
    return RedirectResponse(f"/contacts/{record.survivor_id}?notice=unmerged", status_code=303)


# --- a contact --------------------------------------------------------------------------------


def _event_filter(event: str) -> str | None:
    event = event.strip()
    return event if _EVENT_NAME.match(event) else None


TAG_SOURCE_LABELS: Final = {
    "manual": N_("Manual"),
    "api": N_("API"),
    "import": N_("Import"),
    "rule": N_("Auto-tag"),
    "wecom": N_("WeCom"),
}

# The models of a contact's tiers card, in the order shown, with what each is called.
TIER_CARD_MODELS: Final = (
    ("rfm", N_("RFM cell")),
    ("threshold", N_("Customer tiers (thresholds)")),
    ("lifecycle", N_("Lifecycle stage")),
    ("value", N_("Value tiers")),
    ("activity", N_("Activity tiers")),
    ("clv", N_("Predicted value (CLV)")),
)


def tiers_card(page: Page, contact_id: int) -> dict[str, Any]:
    """A contact's place in every built-in model, each with its reasons, or why there is none."""
    card: dict[str, Any] = {"state": "ok", "models": [], "history": [], "unavailable": []}
    scores: dict[str, Any] | None = None
    try:
        with vocabulary.analytics(page, card["unavailable"]):
            scores = tiers_service.contact_scores(page.session, page.request.app.state.lake, contact_id)
    except NotFound:
        card["state"] = "not_scored"
        return card
    if scores is None:
        card["state"] = "unavailable"
        return card
    card["as_of"] = str(scores.get("as_of") or "")[:16].replace("T", " ")
    explanation: dict[str, Any] = scores.get("explanation", {})
    for model, label in TIER_CARD_MODELS:
        entry = explanation.get(model) or {}
        result = entry.get("result")
        detail = ""
        if model == "rfm" and entry.get("scores"):
            detail = " ".join(f"{k.upper()}{v}" for k, v in entry["scores"].items())
        if model == "clv":
            shown = vocabulary.yuan(result) if result is not None else page.gettext(N_("No prediction"))
            if result is not None:
                detail = page.gettext(
                    N_("P(alive) %(p)s · %(n)s purchases expected"),
                    p=f"{float(entry.get('p_alive', 0)):.1%}",
                    n=entry.get("purchases", "—"),
                )
        elif result is None:
            shown = page.gettext(N_("Not scored"))
        else:
            shown = vocabulary.tier_label(page, model, str(result))
        card["models"].append(
            {
                "key": model,
                "label": label,
                "result": shown,
                "code": result,
                "detail": detail,
                "reasons": [tier_reasons.tier_reason(page, str(r)) for r in entry.get("reasons", [])],
            }
        )
    card["history"] = [
        {
            "from": vocabulary.tier_label(page, "lifecycle", h.get("from")) if h.get("from") else None,
            "to": vocabulary.tier_label(page, "lifecycle", h.get("to")),
            "at": str(h.get("at") or "")[:16].replace("T", " "),
        }
        for h in scores.get("lifecycle_history", [])
    ]
    return card


def _profile_page(
    page: Page,
    contact_id: int,
    *,
    unmask: bool = False,
    cursor: str | None = None,
    event: str = "",
    notice: str | None = None,
    merged_from: int | None = None,
    status_code: int = 200,
    page_error: str | None = None,
) -> Response:
    try:
        profile: ContactProfile = service.profile(page.session, page.auth, contact_id, unmask=unmask)
    except ContactMerged as exc:
        # The URL of a merged contact leads to the contact it became; an error to show stays on this response.
        target = int(exc.extra["merged_into_id"])
        if page_error:
            return _profile_page(page, target, status_code=status_code, page_error=page_error)
        return RedirectResponse(f"/contacts/{target}?merged_from={contact_id}", status_code=303)
    timeline = service.timeline(
        page.session, contact_id, cursor=cursor, event=_event_filter(event), limit=TIMELINE_SIZE
    )
    definitions = {d.key: d for d in catalogue.list_properties(page.session)}
    analytics = page.can(P.analytics_read)
    return render(
        page,
        "contacts_profile.html",
        status_code,
        contact=profile,
        timeline=timeline,
        event=_event_filter(event) or "",
        definitions=definitions,
        can_unmask=page.can(P.pii_unmask),
        can_merge=page.can(P.contacts_write),
        notice=NOTICES.get(notice or ""),
        merged_from=merged_from,
        page_error=page_error,
        tiers=tiers_card(page, contact_id) if analytics else None,
        contact_tags=tag_repository.contact_tags(page.session, contact_id),
        tag_source_labels=TAG_SOURCE_LABELS,
        contact_segments=segment_repository.segments_of_contact(page.session, contact_id) if analytics else None,
        can_read_analytics=analytics,
        **_labels(),
    )


@router.get("/contacts/{contact_id}")
def contact_profile(
    page: ContactsReader,
    contact_id: RowId,
    unmask: Annotated[bool, Query()] = False,
    cursor: Annotated[str, Query(max_length=200), NO_NUL] = "",
    event: Annotated[str, Query(max_length=64), NO_NUL] = "",
    notice: Annotated[str, Query(max_length=32)] = "",
    merged_from: Annotated[RowId | None, Query()] = None,
) -> Response:
    if unmask and not page.can(P.pii_unmask):
        raise PageForbidden(page, P.pii_unmask)
    return _profile_page(
        page, contact_id, unmask=unmask, cursor=cursor or None, event=event, notice=notice, merged_from=merged_from
    )


@router.get("/contacts/{contact_id}/timeline")
def contact_timeline(
    page: ContactsReader,
    contact_id: RowId,
    cursor: Annotated[str, Query(max_length=200), NO_NUL] = "",
    event: Annotated[str, Query(max_length=64), NO_NUL] = "",
) -> Response:
    """The next page of the timeline, for HTMX "load more" and the event filter."""
    timeline: TimelinePage = service.timeline(
        page.session, contact_id, cursor=cursor or None, event=_event_filter(event), limit=TIMELINE_SIZE
    )
    return render(
        page,
        "partials/contact_timeline.html",
        timeline=timeline,
        contact_id=contact_id,
        event=_event_filter(event) or "",
        **_labels(),
    )

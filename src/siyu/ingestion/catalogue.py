"""The standard event catalogue. Custom events are allowed too (snake_case names); these are the ones
the product understands and that journeys, tiers and dashboards read."""

from __future__ import annotations

STANDARD_EVENTS: dict[str, str] = {
    "contact_added": "A customer added a staff member on WeCom (properties: `state` = channel code, `staff`).",
    "contact_deleted": "A customer deleted the staff member, or the staff member deleted the customer "
    "(properties: `staff`, `by` = staff or customer).",
    "wecom_transfer_failed": "A WeCom 在职/离职继承 of the customer failed (properties: `staff` = the takeover "
    "member, `reason` = customer_refused or customer_limit_exceed).",
    "message_received": "A message from the customer reached the brand (properties: `channel`, `msg_type`).",
    "message_sent": "A message went out to the customer (properties: `channel`, `content_type`).",
    "message_opened": "The customer opened a message or article (properties: `channel`, `content_type`).",
    "link_clicked": "The customer clicked a tracked link (properties: `link`, `content_id`).",
    "group_joined": "The customer joined a customer group (properties: `group_id`).",
    "group_left": "The customer left a customer group (properties: `group_id`).",
    "group_message": "The customer spoke in a customer group (properties: `group_id`).",
    "order_paid": "An order was paid (emitted by order ingestion; properties: `order_id`, `amount_fen`).",
    "order_refunded": "An order was refunded in part or whole (properties: `order_id`, `amount_fen`).",
    "page_view": "A 小程序 or H5 page was viewed (properties: `page`).",
    "login": "The customer signed in to the 小程序 or member centre.",
    "checkin": "The customer checked in (签到) for points (properties: `streak`).",
    "coupon_issued": "A coupon was issued to the customer (properties: `coupon_id`).",
    "coupon_redeemed": "A coupon was redeemed (核销) (properties: `coupon_id`, `order_id`).",
    "coupon_expired": "A coupon expired unused (properties: `coupon_id`).",
    "points_earned": "Points were earned (properties: `points`, `reason`).",
    "points_redeemed": "Points were spent (properties: `points`, `item`).",
    "referral_invited": "The customer invited someone (properties: `invitee`, `code`).",
    "referral_converted": "An invitee became a customer (properties: `inviter`, `code`).",
    "survey_answered": "The customer answered a survey (properties: `survey_id`, `score`).",
    "subscribed": "The customer followed a 公众号 or accepted a 小程序 subscription.",
    "unsubscribed": "The customer unfollowed or withdrew a subscription.",
    "segment_entered": "The contact entered a segment at a refresh (emitted by siyu; properties: `segment_id`, "
    "`segment`, `refresh_no`).",
    "segment_left": "The contact left a segment at a refresh (emitted by siyu; properties: `segment_id`, "
    "`segment`, `refresh_no`).",
    "tag_added": "A tag was put on the contact (emitted by siyu; properties: `tag_id`, `tag`, `source`).",
    "tag_removed": "A tag was taken off the contact (emitted by siyu; properties: `tag_id`, `tag`, `source`).",
}

"""V-CLOSE: which required items of a policy a visit still lacks; the service refuses completion with this list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fieldsvc.audit.facts import VisitFacts
from fieldsvc.audit.policy import Policy
from fieldsvc.visible import shows_text

Gap = tuple[str, str] | None  # (English, Chinese) description of what is missing; None when present


@dataclass(frozen=True, slots=True)
class MissingItem:
    rule_id: str
    message_en: str
    message_zh: str


@dataclass(frozen=True, slots=True)
class _Inventory:
    """What the visit holds, gathered in one pass so that checking ten items stays cheap."""

    visit: VisitFacts
    policy: Policy
    checkin_kinds: frozenset[str]
    steps: frozenset[str]
    photo_purposes: frozenset[str]


def _requires(present: Callable[[_Inventory], bool], gap: tuple[str, str]) -> Callable[[_Inventory], Gap]:
    return lambda have: None if present(have) else gap


def gives_a_reason(text: str) -> bool:
    """A reason is words: a note of only punctuation or digits, or a single letter ("." or "x" to get past the
    form), gives none; two Chinese characters (泥地, "dirt floor") do."""
    return sum(character.isalpha() for character in text) >= 2


def _shoe_covers(have: _Inventory) -> Gap:
    if "shoe_covers" in have.photo_purposes:
        return None
    if have.policy.shoe_cover_rule == "photo_within_window":
        return ("no shoe-cover photo", "缺少鞋套照片")
    # Rural sites: a reason is enough (灵活掌握), sent as a note or as the V-SHOES step's note.
    if any(note.rule_id == "V-SHOES" and gives_a_reason(note.text) for note in have.visit.notes):
        return None
    if any(step.step == "V-SHOES" and gives_a_reason(step.note) for step in have.visit.steps):
        return None
    return ("no shoe-cover photo and no reason noted", "既无鞋套照片也未注明原因")


CARD_FIELDS = (
    ("technician_name", "technician name", "技术员姓名"),
    ("staff_number", "staff number", "工号"),
    ("contact_phone", "contact phone", "联系电话"),
    ("hotline", "customer-service hotline", "客服热线"),
    ("leaflet", "seasonal leaflet", "当季宣传单"),
)


def _service_card(have: _Inventory) -> Gap:
    card = have.visit.card
    if card is None:
        return ("no service card handed over", "未递交服务卡")
    blank = [(en, zh) for name, en, zh in CARD_FIELDS if not shows_text(getattr(card, name))]
    if not blank:
        return None
    return (
        f"the service card lacks the {', '.join(en for en, _ in blank)}",
        f"服务卡缺少{'、'.join(zh for _, zh in blank)}",
    )


def _terminal(have: _Inventory) -> Gap:
    """Only a completion blaming the customer's own equipment needs an explanation and a record of help."""
    completion = have.visit.completion
    if completion is None or not completion.customer_equipment_fault:
        return None
    lacking = []
    if not shows_text(completion.terminal_explanation):
        lacking.append(("the explanation given to the customer", "向客户的解释说明"))
    if completion.terminal_help_given is None:
        lacking.append(("whether help was given", "是否提供了帮助"))
    if not lacking:
        return None
    return (
        f"customer-equipment fault recorded without {' and '.join(en for en, _ in lacking)}",
        f"记录为客户自有设备故障，但缺少{'和'.join(zh for _, zh in lacking)}",
    )


ITEM_CHECKS: dict[str, Callable[[_Inventory], Gap]] = {
    "V-CHECKIN": _requires(lambda have: "arrival" in have.checkin_kinds, ("no arrival check-in", "缺少到达签到")),
    "V-ID": _requires(
        lambda have: "V-ID" in have.steps,
        ("work ID and purpose not confirmed at the door", "未确认出示工作证并说明来意"),
    ),
    "V-SHOES": _shoe_covers,
    "V-MAT": _requires(
        lambda have: "V-MAT" in have.steps, ("tools on a work mat not confirmed", "未确认工具放置于工作台布"),
    ),
    "V-TEST": _requires(
        lambda have: any(test.has_result for test in have.visit.tests),
        ("no service test result recorded", "缺少测试验收结果"),
    ),
    "V-CLEAN": _requires(lambda have: "site_clean" in have.photo_purposes, ("no site-clean photo", "缺少场地清洁照片")),
    "V-SIGN": _requires(lambda have: have.visit.signature is not None, ("no customer signature", "缺少客户签名")),
    "V-CARD": _service_card,
    "V-CHECKOUT": _requires(lambda have: "checkout" in have.checkin_kinds, ("no check-out", "缺少离开签退")),
    "V-TERMINAL": _terminal,
}


# A customer not at home saw no work done: the visit shows only that the technician came, waited and left.
CUSTOMER_ABSENT_ITEMS = frozenset({"V-CHECKIN", "V-CHECKOUT"})


def required_items(visit: VisitFacts, policy: Policy) -> tuple[str, ...]:
    completion = visit.completion
    if completion is not None and completion.customer_absent and policy.customer_absent_wait_min is not None:
        return tuple(item for item in policy.required_items if item in CUSTOMER_ABSENT_ITEMS)
    return policy.required_items


def missing_for_closure(visit: VisitFacts, policy: Policy) -> list[MissingItem]:
    """Every required item of the policy the visit lacks, in the policy's order; empty when it may close."""
    have = _Inventory(
        visit=visit,
        policy=policy,
        checkin_kinds=frozenset(checkin.kind for checkin in visit.checkins),
        steps=frozenset(step.step for step in visit.steps),
        photo_purposes=frozenset(photo.purpose for photo in visit.photos),
    )
    missing = []
    for rule_id in required_items(visit, policy):
        gap = ITEM_CHECKS[rule_id](have)
        if gap is not None:
            missing.append(MissingItem(rule_id, *gap))
    return missing

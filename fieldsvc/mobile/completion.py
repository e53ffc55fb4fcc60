"""V-CLOSE: completing a visit refuses, with the full list, anything its policy still misses."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fieldsvc.audit.closure import MissingItem, missing_for_closure
from fieldsvc.audit.policy import Policy
from fieldsvc.errors import api_error
from fieldsvc.verdicts.loader import load_visits

VisitIncomplete = api_error(
    422, "visit.incomplete", "V-CLOSE: the visit misses items its policy requires; nothing was closed."
)
CompletionReasonRequired = api_error(422, "complete.reason_required", "V-CLOSE: an unresolved outcome needs a reason.")
AbsentCustomerResolved = api_error(
    422, "complete.absent_resolved",
    "V-CLOSE: a visit whose customer was not at home cannot be resolved; complete it unresolved with a reason.",
)


async def refuse_if_incomplete(visit_id: UUID, policy: Policy, now: datetime) -> None:
    """Run inside the transaction that holds the completion fact, so the check sees it with every other fact."""
    [loaded] = await load_visits([visit_id], now)
    missing = missing_for_closure(loaded.facts, policy)
    if missing:
        raise VisitIncomplete(
            "V-CLOSE: still missing " + ", ".join(item.rule_id for item in missing) + "; nothing was closed.",
            details=[_item(m) for m in missing],
        )


def _item(missing: MissingItem) -> dict[str, str]:
    return {"ruleId": missing.rule_id, "messageEn": missing.message_en, "messageZh": missing.message_zh}

"""Helpers that drive the dispatcher and auditor APIs the way dispatchers and auditors would, for tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

SHANGHAI_SITE = {"address": "88 Century Ave, Pudong", "latitude": 31.2304, "longitude": 121.4737, "locality": "urban"}


async def create_order(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    kind: str = "install",
    tier: str = "standard",
    site: dict[str, Any] | None = None,
    accepted_at: datetime | None = None,
    phone: str = "13900000000",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "description": "Broadband " + kind,
        "customer": {"name": "Li Wei", "phone": phone, "tier": tier},
        "site": site or SHANGHAI_SITE,
    }
    if kind == "repair":
        body["reportedFault"] = "No internet since morning"
    if accepted_at is not None:
        body["acceptedAt"] = accepted_at.isoformat()
    response = await client.post("/v1/work-orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def booking(agreed_time: datetime, duration_min: int = 60, **extra: Any) -> dict[str, Any]:
    return {
        "agreedTime": agreed_time.isoformat(),
        "expectedDurationMin": duration_min,
        "confirmation": {"channel": "phone"},  # confirmed now
        **extra,
    }


async def book(client: httpx.AsyncClient, headers: dict[str, str], order_id: str, agreed_time: datetime, **extra: Any) -> httpx.Response:
    return await client.post(f"/v1/work-orders/{order_id}/visits", json=booking(agreed_time, **extra), headers=headers)


async def booked_visit(client: httpx.AsyncClient, headers: dict[str, str], agreed_time: datetime, **order: Any) -> dict[str, Any]:
    created = await create_order(client, headers, **order)
    response = await book(client, headers, created["id"], agreed_time)
    assert response.status_code == 201, response.text
    return response.json()


async def technician_id(client: httpx.AsyncClient, headers: dict[str, str], staff_number: str) -> str:
    response = await client.get("/v1/technicians", headers=headers)
    return next(t["id"] for t in response.json() if t["staffNumber"] == staff_number)


async def assign(client: httpx.AsyncClient, headers: dict[str, str], visit_id: str, tech_id: str, **extra: Any) -> httpx.Response:
    return await client.post(
        f"/v1/visits/{visit_id}/assignment", json={"technicianId": tech_id, **extra}, headers=headers
    )


async def decide(
    client: httpx.AsyncClient, visit_id: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """An auditor's decision on the verdict the evidence view shows now, which the decision names (A-DECIDE)."""
    evidence = (await client.get(f"/v1/review/visits/{visit_id}", headers=headers)).json()
    digest = (evidence.get("verdict") or {}).get("digest") or "0" * 64  # none yet: the decision is refused anyway
    return await client.post(
        f"/v1/review/visits/{visit_id}/decisions", json={"verdictDigest": digest, **body}, headers=headers
    )

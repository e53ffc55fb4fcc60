"""Demo data for a first run: one user per role, technicians, and a day of booked visits."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.dispatch.schemas import AssignVisit, BookVisit, Confirmation, CreateWorkOrder, NewCustomer, NewSite
from fieldsvc.dispatch.service import DispatchService
from fieldsvc.people.schemas import CreateUser, TechnicianProfile
from fieldsvc.people.service import PeopleService
from fieldsvc.tables import AppUser

DEMO_PASSWORD = "fieldsvc-demo"  # documented in README; change it or never load the demo outside a laptop
DEMO_USERS = (
    ("admin", "admin", None),
    ("dispatcher", "dispatcher", None),
    ("auditor", "auditor", None),
    ("tech.wang", "technician", TechnicianProfile(staff_number="T1001", name="Wang Fang", phone="13800000001", team="pudong")),
    ("tech.zhao", "technician", TechnicianProfile(staff_number="T1002", name="Zhao Lei", phone="13800000002", team="pudong")),
)
DEMO_ORDERS = (
    ("install", "gold", "Room 1201, 88 Century Ave, Pudong", 31.2353, 121.5055, "urban", time(9, 30)),
    ("repair", "diamond", "No. 5 Lane 300, Zhangyang Rd, Pudong", 31.2287, 121.5260, "urban", time(14, 0)),
    ("install", "standard", "Village 3, Xinchang Town, Pudong", 31.0425, 121.6403, "rural", time(16, 30)),
)


async def database_is_empty() -> bool:
    return await AppUser.count() == 0


async def load_demo(ctx: AppContext) -> None:
    """Create the demo users, then tomorrow's visits (site-local) for the first technician."""
    people = PeopleService(ctx)
    created = {}
    for username, role, profile in DEMO_USERS:
        created[username] = await people.create_user(
            CreateUser(username=username, password=DEMO_PASSWORD, role=role, display_name=username.title(), technician=profile),
            None,
        )
    dispatcher = created["dispatcher"]
    caller = Caller(dispatcher.id, dispatcher.username, dispatcher.role, None)
    dispatch = DispatchService(ctx)
    zone = ZoneInfo(ctx.settings.default_time_zone)
    tomorrow = (ctx.now().astimezone(zone) + timedelta(days=1)).date()
    for kind, tier, address, latitude, longitude, locality, at in DEMO_ORDERS:
        recorded = await dispatch.create_work_order(
            CreateWorkOrder(
                kind=kind,
                description=f"Demo {kind}: 500 Mbps fibre",
                customer=NewCustomer(name="Demo Customer", phone="13900000000", tier=tier),
                site=NewSite(address=address, latitude=latitude, longitude=longitude, locality=locality),
                reported_fault="No signal on the optical modem" if kind == "repair" else None,
            ),
            caller,
            request=None,
        )
        order = recorded.result
        agreed = datetime.combine(tomorrow, at, tzinfo=zone)
        visit = await dispatch.book_visit(
            order.id,
            BookVisit(
                agreed_time=agreed,
                expected_duration_min=60,
                confirmation=Confirmation(channel="phone"),
                late_reason="customer_requested" if kind == "install" else None,
            ),
            caller,
        )
        await dispatch.assign(visit.id, AssignVisit(technician_id=created["tech.wang"].technician.id), caller)

"""Every audit rule, one function per STANDARD rule (or small family), each from AuditInput to findings."""

from __future__ import annotations

from collections.abc import Callable

from fieldsvc.audit.findings import Finding
from fieldsvc.audit.rules.clock import e_clock
from fieldsvc.audit.rules.close import v_close
from fieldsvc.audit.rules.deadlines import b_contact, b_first, b_install_24, b_repair, b_resched
from fieldsvc.audit.rules.evidence import e_edit, e_place, e_reuse, e_time
from fieldsvc.audit.rules.follow_up import v_ask
from fieldsvc.audit.rules.mock import e_mock
from fieldsvc.audit.rules.presence import v_checkout, v_geofence, v_leave
from fieldsvc.audit.rules.punctuality import v_punct
from fieldsvc.audit.rules.review import a_decide
from fieldsvc.audit.rules.signature import v_sign
from fieldsvc.audit.rules.site_care import v_clean, v_shoes
from fieldsvc.audit.rules.steps import on_site_steps, v_card, v_test
from fieldsvc.audit.timeline import AuditInput

# Required-item absence (V-CHECKIN, V-ID, V-MAT, V-CARD, V-CHECKOUT, V-TERMINAL, ...) comes from
# fieldsvc.audit.closure, shared with the service's refusal to close.
RULES: tuple[Callable[[AuditInput], list[Finding]], ...] = (
    v_punct, v_geofence, v_checkout, v_leave, v_shoes, v_clean, on_site_steps, v_test, v_card, v_ask, v_sign, v_close,
    e_time, e_place, e_edit, e_reuse, e_clock, e_mock,
    b_contact, b_first, b_install_24, b_repair, b_resched, a_decide,
)

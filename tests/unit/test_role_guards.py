"""Role guards decide on the event loop: Litestar would run a plain function guard in a worker thread per request."""

from __future__ import annotations

import inspect

from fieldsvc.auth.caller import allow


def test_a_role_guard_is_a_coroutine_so_no_request_waits_for_a_thread():
    assert inspect.iscoroutinefunction(allow("technician"))

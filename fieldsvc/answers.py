"""An answer to a request that records something: 201 when it was recorded now, 200 with Idempotent-Replay when it is
the first answer to the same request sent again (a phone's offline resend, a dispatcher's double click)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from litestar import Response

REPLAY_HEADER = "Idempotent-Replay"

R = TypeVar("R")


@dataclass(frozen=True)
class Recorded(Generic[R]):
    """A request's answer, and whether it is the stored answer to an earlier identical request."""

    result: R
    replay: bool


def answered(recorded: Recorded[R]) -> Response[R]:
    if recorded.replay:
        return Response(recorded.result, status_code=200, headers={REPLAY_HEADER: "true"})
    return Response(recorded.result, status_code=201)

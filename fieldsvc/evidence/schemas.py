"""Wire contract of evidence links."""

from __future__ import annotations

from typing import Literal

from fieldsvc.wire import Instant, Wire

Variant = Literal["original", "display", "thumbnail"]


class EvidenceUrl(Wire):
    url: str
    variant: Variant
    expires_at: Instant

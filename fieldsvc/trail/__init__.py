"""A-TRAIL: the append-only, hash-chained log of facts, status changes and decisions."""

"""When two pictures' perceptual hashes say they are the same picture (E-REUSE across visits, V-CLEAN within one)."""

from __future__ import annotations

from fieldsvc.audit.facts import PhotoFacts
from fieldsvc.audit.policy import Policy


def hash_bits(perceptual_hash: str) -> int:
    if len(perceptual_hash) != 16:
        raise ValueError(f"a perceptual hash is 16 hex digits, got {perceptual_hash!r}")
    return int(perceptual_hash, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def distinctive(bits: int, policy: Policy) -> bool:
    """dHash of a featureless picture (a blank wall, a covered lens) is nearly all 0 or all 1 bits, and such
    pictures look alike without being the same photo."""
    detail = policy.reuse_min_hash_detail_bits
    return detail <= bits.bit_count() <= 64 - detail


def same_picture(a: PhotoFacts, b: PhotoFacts, policy: Policy) -> bool:
    """The very same file, or a copy of it (re-encoded, resized, brightened): close by both the coarse and the fine
    hash, and not featureless. Without fine hashes (photos stored before them) only the very same file."""
    if a.sha256 == b.sha256:
        return True
    if a.fine_hash is None or b.fine_hash is None:
        return False
    coarse_a, coarse_b = hash_bits(a.perceptual_hash), hash_bits(b.perceptual_hash)
    return (
        distinctive(coarse_a, policy) and distinctive(coarse_b, policy)
        and hamming(coarse_a, coarse_b) <= policy.reuse_max_distance
        and hamming(int(a.fine_hash, 16), int(b.fine_hash, 16)) <= policy.reuse_max_fine_distance
    )

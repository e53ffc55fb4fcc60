"""Signed blob URL tokens: round trip, expiry, tampering and wrong secrets."""

from __future__ import annotations

import re

import pytest

from fieldsvc.storage.signing import (
    BlobGrant,
    InvalidBlobToken,
    open_blob_token,
    sign_blob_token,
    verify_blob_token,
)

SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32
KEY = "original/ab/" + "ab" * 32
NOW = 1_700_000_000
EXPIRES_AT = NOW + 300


def flip_character(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_round_trip_returns_the_key() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, None)

    assert verify_blob_token(SECRET, token, NOW) == KEY


def test_the_grant_carries_the_signed_filename() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, "工单 42 \"clean\".jpg")

    assert open_blob_token(SECRET, token, NOW) == BlobGrant(
        key=KEY, expires_at=EXPIRES_AT, filename="工单 42 \"clean\".jpg"
    )


def test_token_is_url_safe() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, "a/b?c=d&e#f.jpg")

    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)


@pytest.mark.parametrize("now", [EXPIRES_AT, EXPIRES_AT + 1, EXPIRES_AT + 86_400])
def test_expired_from_the_expiry_second_on(now: int) -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, None)

    with pytest.raises(InvalidBlobToken) as raised:
        verify_blob_token(SECRET, token, now)
    assert raised.value.code == "blob_url.expired"


def test_valid_until_the_last_second() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, None)

    assert verify_blob_token(SECRET, token, EXPIRES_AT - 1) == KEY


def test_every_single_character_edit_is_rejected() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, "photo.jpg")

    for index in range(len(token)):
        with pytest.raises(InvalidBlobToken) as raised:
            verify_blob_token(SECRET, flip_character(token, index), NOW)
        assert raised.value.code == "blob_url.invalid"


def test_payload_swapped_onto_another_signature_is_rejected() -> None:
    mine = sign_blob_token(SECRET, KEY, EXPIRES_AT, None)
    longer_lived = sign_blob_token(SECRET, KEY, EXPIRES_AT + 10**6, None)
    forged = longer_lived.partition(".")[0] + "." + mine.partition(".")[2]

    with pytest.raises(InvalidBlobToken) as raised:
        verify_blob_token(SECRET, forged, NOW)
    assert raised.value.code == "blob_url.invalid"


def test_a_tampered_expired_token_reads_as_invalid_not_expired() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, None)

    with pytest.raises(InvalidBlobToken) as raised:
        verify_blob_token(SECRET, flip_character(token, 3), EXPIRES_AT + 1)
    assert raised.value.code == "blob_url.invalid"


def test_wrong_secret_is_rejected() -> None:
    token = sign_blob_token(SECRET, KEY, EXPIRES_AT, None)

    with pytest.raises(InvalidBlobToken) as raised:
        verify_blob_token(OTHER_SECRET, token, NOW)
    assert raised.value.code == "blob_url.invalid"


@pytest.mark.parametrize(
    "token",
    ["", ".", "no-dot", "a.b", "a.b.c", "é.é", "x" * 5000 + "." + "y", "W10.AAAA"],
)
def test_garbage_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidBlobToken) as raised:
        verify_blob_token(SECRET, token, NOW)
    assert raised.value.code == "blob_url.invalid"


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        sign_blob_token(b"too short", KEY, EXPIRES_AT, None)
    with pytest.raises(ValueError):
        verify_blob_token(b"", "a.b", NOW)

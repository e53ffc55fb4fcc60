"""V-SIGN copies: a signature re-saved, resized or touched up keeps its ink print; another signing does not."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageFilter

from fieldsvc.imaging import process_image
from fieldsvc.ink_print import COPY_MAX_DIFFERENCE, COPY_MIN_LIKENESS, DensityMemory, density_likeness, print_difference
from tests.pictures import handwritten_name


def saved(picture: Image.Image, image_format: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, image_format, **options)
    return buffer.getvalue()


def print_of(data: bytes) -> str:
    ink_print = process_image(data, signature=True).ink_print
    assert ink_print is not None
    return ink_print


def density_of(data: bytes) -> bytes:
    density = process_image(data, signature=True).ink_density
    assert density is not None
    return density


def with_a_pixel_changed(picture: Image.Image) -> Image.Image:
    touched = picture.copy()
    touched.putpixel((5, 5), (0, 0, 0))
    return touched


def on_a_larger_pad(picture: Image.Image) -> Image.Image:
    pad = Image.new("RGB", (picture.width + 300, picture.height + 120), "white")
    pad.paste(picture, (40, 90))
    return pad


COPIES: dict[str, Callable[[Image.Image], bytes]] = {
    "re-saved as JPEG": lambda picture: saved(picture, "JPEG", quality=60),
    "halved": lambda picture: saved(picture.resize((picture.width // 2, picture.height // 2), Image.Resampling.LANCZOS)),
    "enlarged": lambda picture: saved(picture.resize((picture.width * 8 // 5, picture.height * 8 // 5))),
    "one pixel changed": lambda picture: saved(with_a_pixel_changed(picture)),
    "on a larger pad": lambda picture: saved(on_a_larger_pad(picture)),
    "blurred": lambda picture: saved(picture.filter(ImageFilter.GaussianBlur(1.2))),
    "greyed": lambda picture: saved(picture.convert("L")),
}


@pytest.mark.parametrize("person", [1, 2, 3, 25])
@pytest.mark.parametrize("copy", COPIES.values(), ids=COPIES.keys())
def test_a_copy_of_a_signature_passes_the_print_sieve_and_has_alike_ink(
    person: int, copy: Callable[[Image.Image], bytes]
) -> None:
    original = handwritten_name(person, pen=16 if person == 25 else 3 + person)

    assert print_difference(print_of(saved(original)), print_of(copy(original))) <= COPY_MAX_DIFFERENCE
    assert density_likeness(density_of(saved(original)), density_of(copy(original))) >= COPY_MIN_LIKENESS


@pytest.mark.parametrize("person", [1, 2, 3, 4])
@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_the_same_person_signing_again_has_ink_less_alike_than_a_copy(person: int, attempt: int) -> None:
    first, again = handwritten_name(person), handwritten_name(person, attempt, pen=4 + attempt % 3)

    assert density_likeness(density_of(saved(first)), density_of(saved(again))) < COPY_MIN_LIKENESS


@pytest.mark.parametrize(("person", "attempt"), [(18, 1), (25, 3), (35, 3)])
def test_a_thick_pen_signing_again_may_pass_the_print_sieve_but_not_the_ink_density(person: int, attempt: int) -> None:
    first, again = saved(handwritten_name(person, pen=16)), saved(handwritten_name(person, attempt, pen=16))

    assert print_difference(print_of(first), print_of(again)) <= 0.15  # the old limit took these for copies (a probe)
    assert density_likeness(density_of(first), density_of(again)) < COPY_MIN_LIKENESS


def test_two_people_signatures_are_far_apart() -> None:
    assert print_difference(print_of(saved(handwritten_name(1))), print_of(saved(handwritten_name(2)))) > 0.4


def test_a_blank_pad_has_no_ink_print() -> None:
    assert process_image(saved(Image.new("RGB", (800, 300), "white")), signature=True).ink_print is None


def test_photos_have_no_ink_print() -> None:
    assert process_image(saved(handwritten_name(1))).ink_print is None


def test_print_difference_counts_cells_either_print_lacks_after_growing_each_by_one() -> None:
    one_cell, its_neighbour, far_cell = 1 << 200, 1 << 201, 1 << 1000

    assert print_difference(f"{one_cell:0384x}", f"{one_cell:0384x}") == 0.0
    assert print_difference(f"{one_cell:0384x}", f"{its_neighbour:0384x}") == pytest.approx(6 / 12)
    assert print_difference(f"{one_cell:0384x}", f"{far_cell:0384x}") == 1.0


def test_v_sign_the_density_memory_keeps_the_last_used_and_forgets_the_oldest():
    memory = DensityMemory(2)
    memory.keep("a", b"A")
    memory.keep("b", b"B")
    assert memory.get("a") == b"A"  # used: now the newest

    memory.keep("c", b"C")

    assert (memory.get("a"), memory.get("b"), memory.get("c")) == (b"A", None, b"C")

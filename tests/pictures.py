"""Pictures several test layers draw: photos that look alike without being the same photo."""

from __future__ import annotations

import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter


def shoe_covers_on(floor: tuple[int, int, int], seed: int) -> Image.Image:
    """Two covered feet on a tiled floor, trousers above: every visit's shoe-cover photo is laid out like this."""
    rng = random.Random(seed)
    picture = Image.new("RGB", (1600, 1200), floor)
    pen = ImageDraw.Draw(picture)
    for x in range(0, 1600, 200):
        for y in range(0, 1200, 200):
            shade = rng.randint(-12, 12)
            pen.rectangle((x + 3, y + 3, x + 197, y + 197), fill=tuple(max(0, min(255, c + shade)) for c in floor))
    for left, top in ((500, 600), (900, 620)):
        left, top = left + rng.randint(-40, 40), top + rng.randint(-40, 40)
        pen.ellipse((left, top, left + 260, top + 420), fill=(70 + rng.randint(-15, 15), 110, 200))
        pen.rectangle((left + 40, 0, left + 220, top + 60), fill=(40, 40, 50))
    return picture.filter(ImageFilter.GaussianBlur(2))


def plain_wall(paint: tuple[int, int, int], seed: int) -> Image.Image:
    """A bare painted wall as a phone camera sees it: darker towards the corners (lens falloff), a little sensor noise;
    nothing in it that one wall has and another has not."""
    rng = random.Random(seed)
    centre_x, centre_y = 80 + rng.uniform(-6, 6), 60 + rng.uniform(-5, 5)
    shading = Image.new("RGB", (160, 120))
    falloff = [
        1 - 0.15 * (((x - centre_x) / 80) ** 2 + ((y - centre_y) / 60) ** 2) for y in range(120) for x in range(160)
    ]
    shading.putdata([tuple(round(level * factor) for level in paint) for factor in falloff])
    noise = Image.effect_noise((1600, 1200), 6).convert("RGB")
    return ImageChops.add(shading.resize((1600, 1200), Image.Resampling.BICUBIC), noise, offset=-128)


def speed_test_screenshot(download_mbps: float, upload_mbps: float, latency_ms: int) -> Image.Image:
    """A speed-test app's result screen: the same layout on every phone, only the figures differ."""
    screen = Image.new("RGB", (720, 1280), (18, 24, 38))
    pen = ImageDraw.Draw(screen)
    pen.rectangle((0, 0, 720, 140), fill=(40, 120, 220))
    pen.ellipse((160, 260, 560, 660), outline=(90, 200, 120), width=18)
    for row, (label, value) in enumerate(
        (("DOWNLOAD Mbps", f"{download_mbps:.1f}"), ("UPLOAD Mbps", f"{upload_mbps:.1f}"), ("PING ms", str(latency_ms)))
    ):
        top = 760 + row * 150
        pen.rectangle((60, top, 660, top + 120), fill=(30, 40, 60))
        pen.text((90, top + 20), label, fill=(150, 160, 180), font_size=28)
        pen.text((90, top + 60), value, fill=(240, 240, 240), font_size=44)
    return screen

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


def handwritten_name(person: int, attempt: int = 0, pen: int = 5, pad: tuple[int, int] = (800, 300)) -> Image.Image:
    """A person's signature on a white pad: one stroke through the points that person's hand always passes, smoothed.
    Each further attempt is the same person signing again: every point moved by 1-2% of the width (steadier than
    people sign twice), the whole a little bigger or smaller and elsewhere on the pad."""
    hand, again = random.Random(person), random.Random(person * 1000 + attempt)
    shake = again.uniform(0.01, 0.02) if attempt else 0.0
    scale = again.uniform(0.85, 1.1) if attempt else 1.0
    shift = (again.uniform(-0.04, 0.04), again.uniform(-0.05, 0.05)) if attempt else (0.0, 0.0)
    x, points = 0.08, []
    for _ in range(14):
        x += hand.uniform(0.03, 0.09)
        points.append((min(x, 0.92) + again.gauss(0, shake), hand.uniform(0.25, 0.75) + again.gauss(0, shake * 1.5)))
    width, height = pad
    path = [
        (((px - 0.5) * scale + 0.5 + shift[0]) * width, ((py - 0.5) * scale + 0.5 + shift[1]) * height)
        for px, py in _smoothed(points)
    ]
    picture = Image.new("RGB", pad, "white")
    ImageDraw.Draw(picture).line(path, fill=(20, 20, 60), width=pen, joint="curve")
    return picture


def _smoothed(points: list[tuple[float, float]], steps: int = 16) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through the points."""
    curve = []
    for index in range(len(points) - 1):
        before, start, end = points[max(index - 1, 0)], points[index], points[index + 1]
        after = points[min(index + 2, len(points) - 1)]
        for step in range(steps):
            t = step / steps
            curve.append(tuple(
                0.5 * (2 * start[axis] + (end[axis] - before[axis]) * t
                       + (2 * before[axis] - 5 * start[axis] + 4 * end[axis] - after[axis]) * t * t
                       + (3 * start[axis] - before[axis] - 3 * end[axis] + after[axis]) * t ** 3)
                for axis in (0, 1)
            ))
    return [*curve, points[-1]]

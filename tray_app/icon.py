"""What the tray icon shows: a coloured badge with the time left, as pure functions plus Pillow drawing.

:func:`icon_face` turns a token state into an :class:`IconFace` (colour, label, blocked mark) and knows
nothing of pixels; :func:`render_icon` draws a face. The tray compares faces and redraws only on change.

Colours step down in lightness as well as changing hue (amber 75, green 63, grey 49, violet 42, red 38 in
CIE L*), so a red-green colour-blind user still tells "fine" from "urgent", and the label says it in words
anyway. Each label is white or near-black, whichever contrasts more with its badge (WCAG contrast ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFont

from tray_app.policy import DAY, TokenState

RGB = tuple[int, int, int]

#: Token fine (mid green, a touch of blue so deuteranopes see it apart from amber and red).
GREEN: RGB = (20, 172, 120)
#: Refresh due soon but more than a day left (the lightest badge).
AMBER: RGB = (245, 170, 20)
#: Fewer than 24 hours left, whatever the state (the darkest badge).
RED: RGB = (178, 24, 40)
#: The site's firewall stopped the last refresh; blue enough to read apart from red without red-green vision.
VIOLET: RGB = (120, 70, 200)
#: No usable token: missing, expired or rejected. Neutral, so it never reads as "fine".
GREY: RGB = (112, 116, 124)

WHITE: RGB = (255, 255, 255)
#: Near-black rather than black: softer at large sizes, the same contrast at small ones.
INK: RGB = (24, 24, 28)

HOUR = 3600.0
MINUTE = 60.0
URGENT_SECONDS = DAY
MAX_DAYS = 99


@dataclass(frozen=True)
class IconFace:
    """Everything that decides the pixels; equal faces draw identical icons (the tray redraws only on change)."""

    background: RGB  # the badge colour
    label: str  # "5", "9h", "45m", "!", "?"
    blocked: bool = False  # draws an extra mark so "blocked" reads without colour


def time_label(seconds_left: float) -> str:
    """Days while at least one is left, then hours, then minutes (never "0m": the token still works).

    Days are rounded to the nearest (half up): a fresh 7-day token, a moment old, shows "7", not "6" for
    its whole first day. Hours and minutes are rounded down, so the label never jumps back up to "24h".
    """
    if seconds_left >= DAY:
        return str(min(MAX_DAYS, int((seconds_left + DAY / 2) // DAY)))
    if seconds_left >= HOUR:
        return f"{int(seconds_left // HOUR)}h"
    return f"{max(1, int(seconds_left // MINUTE))}m"


def icon_face(state: TokenState, seconds_left: float | None) -> IconFace:
    """The face for a state; ``seconds_left`` is until the token's exp (None when there is no token).

    A usable state with no time known (which the engine never reports) shows "?" in its own colour.
    """
    if state is TokenState.MISSING:
        return IconFace(GREY, "?")
    if state is TokenState.UNKNOWN:  # the keyring cannot be read: trouble, like a dead token
        return IconFace(GREY, "!")
    if state in (TokenState.INVALID, TokenState.EXPIRED):
        return IconFace(GREY, "!")
    blocked = state is TokenState.BLOCKED
    colour = {TokenState.OK: GREEN, TokenState.EXPIRING: AMBER, TokenState.BLOCKED: VIOLET}[state]
    if seconds_left is None:
        return IconFace(colour, "?", blocked)
    if seconds_left < URGENT_SECONDS:
        colour = RED
    return IconFace(colour, time_label(seconds_left), blocked)


def _luminance(colour: RGB) -> float:
    """WCAG relative luminance."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    darker, lighter = sorted((_luminance(a), _luminance(b)))
    return (lighter + 0.05) / (darker + 0.05)


def label_colour(background: RGB) -> RGB:
    """White on dark badges (green-blue, red, violet, grey), near-black on light ones (amber): the better contrast."""
    return WHITE if contrast_ratio(WHITE, background) >= contrast_ratio(INK, background) else INK


def icon_sizes() -> tuple[int, ...]:
    """The sizes platforms ask for: 16-24 for panels and menus, 32/48 for HiDPI panels, 64 for docs and tests."""
    return (16, 20, 22, 24, 32, 48, 64)


# Geometry as fractions of the icon's side. The badge is a rounded square, which leaves more room for "45m"
# than a circle; the label keeps a ring of badge colour around it so the badge's outline reads at 16 px.
_SUPERSAMPLE = 8
_INSET = 0.02  # rounded to whole pixels, so the badge's straight edges land on pixel boundaries
_RADIUS = 0.24
_PAD = 0.08
#: Legs of the blocked mark, a triangle in the top-right corner, and the gap kept between it and the label.
_MARK = 0.40
_MARK_GAP = 0.06
#: Wide labels ("99", "45m") may be narrowed to this much of their width before they are made smaller;
#: more at panel sizes, where every pixel of height counts, than at 32 px and up, where they look stretched.
_SQUEEZE_BELOW_32 = 0.65
_SQUEEZE_FROM_32 = 0.85
#: The label is drawn once at this font size and scaled into each badge.
_GLYPH_SIZE = 200
#: Aileron (Pillow's bundled font) is a regular weight; growing its ink by this fraction of the size makes it bold.
_BOLD = 0.03
#: The unit letter of "9h" and "45m", as a fraction of the digits' size.
_UNIT = 0.7


def _disk(radius: int) -> list[tuple[int, int]]:
    """Offsets on rings about 3 px apart that, used as shifts, grow a shape by ``radius`` in every direction."""
    offsets = []
    for ring in range(radius, 0, -3):
        steps = max(8, math.ceil(2 * math.pi * ring / 3))
        for step in range(steps):
            angle = 2 * math.pi * step / steps
            offsets.append((round(ring * math.cos(angle)), round(ring * math.sin(angle))))
    return offsets


@lru_cache(maxsize=32)
def _label_mask(label: str) -> Image.Image:
    """The label's ink, made bold and cropped to its bounding box: an "L" mask at ``_GLYPH_SIZE``.

    A unit letter ("9h", "45m") is drawn smaller, leaving the width to the digits that carry the meaning.
    Bold comes from the union of shifted copies rather than FreeType's stroker, whose outline leaves notches
    where Aileron's glyphs are built from overlapping contours (the tail of a 9, the stem of a 5); letters are
    spaced apart by the same amount so bold glyphs do not run together.
    """
    font = ImageFont.load_default(size=_GLYPH_SIZE)
    small = ImageFont.load_default(size=round(_GLYPH_SIZE * _UNIT))
    bold = round(_GLYPH_SIZE * _BOLD)
    has_unit = len(label) > 1 and label[-1] in "hm" and label[:-1].isdigit()
    glyphs = [(char, small if has_unit and index == len(label) - 1 else font) for index, char in enumerate(label)]
    margin = 2 * bold + 2
    width = sum(math.ceil(glyph_font.getlength(char)) + bold for char, glyph_font in glyphs) + 2 * margin
    plain = Image.new("L", (width, 2 * _GLYPH_SIZE), 0)
    draw = ImageDraw.Draw(plain)
    x = float(margin)
    for char, glyph_font in glyphs:
        draw.text((x, 1.5 * _GLYPH_SIZE), char, font=glyph_font, fill=255, anchor="ls")
        x += glyph_font.getlength(char) + bold
    mask = plain
    for dx, dy in _disk(bold):
        mask = ImageChops.lighter(mask, ImageChops.offset(plain, dx, dy))
    return mask.crop(mask.getbbox())


def _label_box(label: str, size: int, blocked: bool) -> tuple[int, int, int, int]:
    """Where the label goes on the supersampled canvas: left, top, width, height.

    The tallest label that fits inside the ring, narrowed if it is wide; a whole number of output pixels tall
    with its top on a pixel boundary, so the tops and feet of the digits stay sharp at 16 px. On a blocked
    face it slides down and left, off the mark, as far as the ring allows before it gets smaller.
    """
    margin = round(size * _INSET) + size * _PAD
    box = size - 2 * margin
    glyph_width, glyph_height = _label_mask(label).size
    aspect = glyph_width / glyph_height
    squeeze = _SQUEEZE_BELOW_32 if size < 32 else _SQUEEZE_FROM_32
    corner = size * (1 - _MARK - _MARK_GAP * math.sqrt(2))  # the mark's edge is the line x - y = size - leg
    for height in range(max(1, math.floor(box)), 0, -1):
        if aspect * height * squeeze > box and height > 1:
            continue
        width = min(aspect * height, box)
        left, top = (size - width) / 2, float((size - height) // 2)
        overlap = left + width - top - corner  # how far the top-right corner reaches past the mark's edge
        if blocked and overlap > 0:
            down = min(math.ceil(overlap), math.floor(size - margin - top - height))  # whole pixels, as above
            aside = max(0.0, overlap - down)
            if aside > left - margin and height > 1:
                continue
            left, top = left - aside, top + max(0, down)
        scale = _SUPERSAMPLE
        return round(left * scale), round(top * scale), max(1, round(width * scale)), height * scale
    raise AssertionError("unreachable: a 1 px label always fits")


def _draw(face: IconFace, size: int) -> Image.Image:
    canvas = size * _SUPERSAMPLE
    inset = round(size * _INSET) * _SUPERSAMPLE
    badge = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(badge).rounded_rectangle(
        (inset, inset, canvas - 1 - inset, canvas - 1 - inset), radius=round(canvas * _RADIUS), fill=255
    )
    image = Image.new("RGBA", (canvas, canvas), (*face.background, 255))
    foreground = (*label_colour(face.background), 255)
    if face.blocked:
        # A square top-right corner, so the mark is a whole triangle even at 16 px.
        ImageDraw.Draw(badge).rectangle((canvas // 2, inset, canvas - 1 - inset, canvas // 2), fill=255)
        leg = round(canvas * _MARK)
        triangle = Image.new("L", (canvas, canvas), 0)
        ImageDraw.Draw(triangle).polygon([(canvas - leg, 0), (canvas, 0), (canvas, leg)], fill=255)
        image.paste(foreground, mask=triangle)
    if face.label:
        left, top, width, height = _label_box(face.label, size, face.blocked)
        ink = _label_mask(face.label).resize((width, height), Image.Resampling.LANCZOS)
        image.paste(foreground, (left, top, left + width, top + height), ink)
    image.putalpha(badge)  # last, so the mark and the label end exactly where the badge does
    return image.resize((size, size), Image.Resampling.LANCZOS)


@lru_cache(maxsize=64)
def _cached_render(face: IconFace, size: int) -> Image.Image:
    return _draw(face, size)


def render_icon(face: IconFace, size: int = 64) -> Image.Image:
    """The face as an RGBA image of exactly ``size`` x ``size``, transparent outside the badge.

    Drawn at 8x and downsampled with LANCZOS so 16 px stays crisp. Renders are cached by (face, size); each
    call returns a fresh copy, so a caller may change its image without spoiling the next one.
    """
    if size < 1:
        raise ValueError(f"icon size must be positive, not {size}")
    return _cached_render(face, size).copy()


#: One face per state, for the docs and scripts/make_assets.py; "urgent" is an ok token with under a day left.
REPRESENTATIVE_FACES: dict[str, IconFace] = {
    "ok": icon_face(TokenState.OK, 5 * DAY),
    "expiring": icon_face(TokenState.EXPIRING, 2 * DAY),
    "urgent": icon_face(TokenState.OK, 9 * HOUR),
    "blocked": icon_face(TokenState.BLOCKED, 2 * DAY),
    "expired": icon_face(TokenState.EXPIRED, None),
    "invalid": icon_face(TokenState.INVALID, None),
    "missing": icon_face(TokenState.MISSING, None),
}

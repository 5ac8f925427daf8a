"""The tray icon: which face each state gets (a table), and what the drawn pixels look like at every size."""

from __future__ import annotations

import pytest
from PIL import Image

from tray_app.icon import (
    AMBER,
    GREEN,
    GREY,
    INK,
    RED,
    REPRESENTATIVE_FACES,
    VIOLET,
    WHITE,
    IconFace,
    _cached_render,
    contrast_ratio,
    icon_face,
    icon_sizes,
    label_colour,
    render_icon,
)
from tray_app.policy import DAY, TokenState

HOUR = 3600.0
MINUTE = 60.0
OK, EXPIRING, BLOCKED = TokenState.OK, TokenState.EXPIRING, TokenState.BLOCKED

#: Faces that crowd the badge most: widest labels, and labels pushed aside by the blocked mark.
HARD_FACES = [
    IconFace(GREEN, "99"),
    IconFace(RED, "45m"),
    IconFace(RED, "23h", blocked=True),
    IconFace(VIOLET, "99", blocked=True),
    IconFace(AMBER, "8"),
    IconFace(GREY, "!"),
]
ALL_FACES = list(REPRESENTATIVE_FACES.values()) + HARD_FACES


@pytest.mark.parametrize(
    ("state", "seconds_left", "expected"),
    [
        (OK, 5 * DAY, IconFace(GREEN, "5")),
        (OK, 7 * DAY - 1, IconFace(GREEN, "7")),  # a fresh 7-day token, a second old
        (OK, 6.5 * DAY, IconFace(GREEN, "7")),
        (OK, 6.5 * DAY - 1, IconFace(GREEN, "6")),
        (OK, 100 * DAY, IconFace(GREEN, "99")),
        (OK, 99.5 * DAY, IconFace(GREEN, "99")),
        (OK, DAY, IconFace(GREEN, "1")),
        (OK, 1.5 * DAY - 1, IconFace(GREEN, "1")),
        (OK, DAY - MINUTE, IconFace(RED, "23h")),
        (OK, HOUR, IconFace(RED, "1h")),
        (OK, HOUR - 1, IconFace(RED, "59m")),
        (OK, None, IconFace(GREEN, "?")),
        (EXPIRING, 2 * DAY, IconFace(AMBER, "2")),
        (EXPIRING, 1.5 * DAY, IconFace(AMBER, "2")),
        (EXPIRING, 1.4 * DAY, IconFace(AMBER, "1")),
        (EXPIRING, 9.5 * HOUR, IconFace(RED, "9h")),
        (EXPIRING, 59 * MINUTE, IconFace(RED, "59m")),
        (EXPIRING, 30, IconFace(RED, "1m")),
        (EXPIRING, 0, IconFace(RED, "1m")),
        (BLOCKED, 2 * DAY, IconFace(VIOLET, "2", blocked=True)),
        (BLOCKED, 150 * DAY, IconFace(VIOLET, "99", blocked=True)),
        (BLOCKED, 9 * HOUR, IconFace(RED, "9h", blocked=True)),
        (BLOCKED, 45 * MINUTE, IconFace(RED, "45m", blocked=True)),
        (TokenState.EXPIRED, None, IconFace(GREY, "!")),
        (TokenState.EXPIRED, -DAY, IconFace(GREY, "!")),
        (TokenState.INVALID, 5 * DAY, IconFace(GREY, "!")),
        (TokenState.INVALID, None, IconFace(GREY, "!")),
        (TokenState.MISSING, None, IconFace(GREY, "?")),
    ],
)
def test_icon_face(state: TokenState, seconds_left: float | None, expected: IconFace) -> None:
    assert icon_face(state, seconds_left) == expected


def test_colours_are_distinct_and_labels_read_on_each() -> None:
    colours = [GREEN, AMBER, RED, VIOLET, GREY]
    assert len(set(colours)) == len(colours)
    assert label_colour(AMBER) == INK
    assert label_colour(GREEN) == INK
    assert {label_colour(c) for c in (RED, VIOLET, GREY)} == {WHITE}
    for colour in colours:
        assert contrast_ratio(label_colour(colour), colour) >= 4.5, colour  # WCAG AA for normal text
    # "Fine" and "urgent" must differ in lightness, not only in hue (red-green colour blindness).
    assert contrast_ratio(GREEN, RED) >= 2
    assert contrast_ratio(AMBER, RED) >= 3


def distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def pixels(image: Image.Image, box: tuple[int, int, int, int]) -> list[tuple[int, ...]]:
    region = image.crop(box)
    return [region.getpixel((x, y)) for y in range(region.height) for x in range(region.width)]  # type: ignore[misc]


def differing(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in ``box`` tell the two images apart (not just rounding)."""
    return sum(distance(p, q) > 64 for p, q in zip(pixels(a, box), pixels(b, box), strict=True))


def centre(size: int) -> tuple[int, int, int, int]:
    return (size // 4, size // 4, size - size // 4, size - size // 4)


def ring_point(image: Image.Image) -> tuple[int, int]:
    """The middle of the badge's bottom edge, on the first fully opaque pixel (below any label)."""
    x = image.width // 2
    y = next(y for y in range(image.height - 1, 0, -1) if image.getpixel((x, y))[3] >= 250)  # type: ignore[index]
    return x, y


@pytest.mark.parametrize("size", icon_sizes())
def test_every_size_draws_a_badge_with_its_label(size: int) -> None:
    for face in ALL_FACES:
        image = render_icon(face, size)
        assert (image.mode, image.size) == ("RGBA", (size, size))
        corners = [(0, size - 1), (size - 1, size - 1), (0, 0)] + ([] if face.blocked else [(size - 1, 0)])
        for corner in corners:
            assert image.getpixel(corner)[3] <= 8, (face, corner)  # type: ignore[index]
        assert distance(image.getpixel(ring_point(image))[:3], face.background) <= 12, face  # type: ignore[index]

        blank = render_icon(IconFace(face.background, "", face.blocked), size)
        changed = differing(image, blank, centre(size))
        ink = sum(distance(p[:3], label_colour(face.background)) < 80 for p in pixels(image, centre(size)))
        area = (size // 2) ** 2
        assert changed >= area // 6, (face, changed)
        assert ink >= area // 6, (face, ink)


@pytest.mark.parametrize("size", icon_sizes())
def test_labels_fit_inside_the_badge(size: int) -> None:
    """No label is clipped: along each edge the badge keeps its own colour wherever it is opaque."""
    for face in HARD_FACES:
        image = render_icon(face, size)
        near, far = size - 1 - ring_point(image)[1], ring_point(image)[1]
        edges = [(x, y) for x in range(size) for y in (near, far)] + [(x, y) for y in range(size) for x in (near, far)]
        for point in edges:
            red, green, blue, alpha = image.getpixel(point)  # type: ignore[misc]
            near_mark = face.blocked and point[0] - point[1] > size // 2
            if alpha >= 250 and not near_mark:
                assert distance((red, green, blue), face.background) <= 48, (face, point)


def test_different_labels_and_the_blocked_mark_show_at_16px() -> None:
    five, six = render_icon(IconFace(GREEN, "5"), 16), render_icon(IconFace(GREEN, "6"), 16)
    assert differing(five, six, (0, 0, 16, 16)) >= 4

    plain, blocked = render_icon(IconFace(VIOLET, "2"), 16), render_icon(IconFace(VIOLET, "2", blocked=True), 16)
    corner = (12, 0, 16, 3)  # the top-right corner, clear of the label
    marked = sum(distance(p, (*WHITE, 255)) < 60 for p in pixels(blocked, corner))
    assert marked >= 9
    assert not any(distance(p, (*WHITE, 255)) < 60 for p in pixels(plain, corner))


def test_equal_faces_render_identical_bytes_and_are_cached() -> None:
    _cached_render.cache_clear()
    first = render_icon(IconFace(RED, "9h", blocked=True), 24)
    again = render_icon(IconFace(RED, "9h", blocked=True), 24)
    assert _cached_render.cache_info().hits == 1
    assert first is not again
    assert first.tobytes() == again.tobytes()

    _cached_render.cache_clear()
    assert render_icon(IconFace(RED, "9h", blocked=True), 24).tobytes() == first.tobytes()  # drawn afresh


def test_a_caller_may_change_its_copy() -> None:
    face = IconFace(AMBER, "3")
    before = render_icon(face, 32).tobytes()
    render_icon(face, 32).paste((0, 0, 0, 255), (0, 0, 32, 32))
    assert render_icon(face, 32).tobytes() == before


def test_render_icon_rejects_a_size_of_nothing() -> None:
    with pytest.raises(ValueError, match="positive"):
        render_icon(IconFace(GREEN, "5"), 0)

"""The icon as StatusNotifierItem pixmaps: several sizes, ARGB32 in network byte order.

Hosts pick the size closest to what they draw, so giving them 16 to 64 px keeps the badge crisp on
ordinary and HiDPI panels instead of letting each host scale one image its own way.
"""

from __future__ import annotations

from collections.abc import Iterable

from PIL import Image

#: The sizes hosts ask for most (16/22/24 on ordinary panels, 32/48/64 on HiDPI ones).
PIXMAP_SIZES = (16, 22, 24, 32, 48, 64)

#: One pixmap as the ``a(iiay)`` D-Bus type wants it: width, height, ARGB32 bytes (network order).
Pixmap = tuple[int, int, bytes]


def argb32_pixmap(image: Image.Image, size: int) -> Pixmap:
    """``image`` scaled to ``size`` by ``size``, as A, R, G, B bytes per pixel, rows top to bottom."""
    rgba = image.convert("RGBA")
    if rgba.size != (size, size):
        rgba = rgba.resize((size, size), Image.Resampling.LANCZOS)
    red, green, blue, alpha = rgba.split()
    return size, size, Image.merge("RGBA", (alpha, red, green, blue)).tobytes()


def argb32_pixmaps(image: Image.Image, sizes: Iterable[int] = PIXMAP_SIZES) -> list[Pixmap]:
    """The icon at every size in ``sizes``, smallest first."""
    return [argb32_pixmap(image, size) for size in sorted(set(sizes))]

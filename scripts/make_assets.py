"""Generate ``assets/`` (app icons for Linux, Windows and macOS, state badges, desktop entry) from ``tray_app.icon``.

Usage: python scripts/make_assets.py [DIRECTORY] [--check]

Every image is drawn by :func:`tray_app.icon.render_icon`, the code the tray itself draws with, at its own size:
nothing is scaled up or down from another size. Output is deterministic (PNG, ICO and ICNS hold no timestamps),
so re-running leaves git clean; files whose bytes would not change are not rewritten. ``--check`` writes
nothing and exits 1 when a file is missing or differs (tests/test_assets.py does the same check).

What is written, relative to DIRECTORY (default: the repository's ``assets/``):

- ``qwen-tray.png``: the 256 px app icon; ``qwen-tray-<size>.png`` for the Linux hicolor theme
  (install as ``hicolor/<size>x<size>/apps/qwen-tray.png``);
- ``qwen-tray.ico``: Windows, one PNG frame per size from 16 to 256;
- ``qwen-tray.icns``: macOS, every size Pillow's ICNS writer stores (32 to 1024; it has no 16 px slot,
  macOS draws 16 from the 32);
- ``states/qwen-tray-<state>-64.png``: the tray's face for each state, for docs;
- ``qwen-tray.desktop``: the Linux menu entry (``Icon=qwen-tray`` finds the hicolor icons).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from tray_app.icon import GREEN, REPRESENTATIVE_FACES, IconFace, render_icon

#: The app's own face: the tray's "token fine" green with a "Q" for Qwen. The tray's ok face shows days left
#: ("5"), which in a menu or dock reads as an unread count; a letter names the app and keeps the family look.
APP_FACE = IconFace(GREEN, "Q")
APP_ICON_SIZE = 256
#: Linux hicolor sizes; Windows' .ico holds the same (256 is the largest an ICO entry describes).
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_SIZES = PNG_SIZES
#: What Pillow's ICNS writer stores (ic11/ic12 are 16@2x/32@2x, ic13/ic14 128@2x/256@2x, ic07..ic10 128 to 1024).
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)
STATE_SIZE = 64

#: Version 1.4 is the newest desktop-file-validate 0.26 (Debian 12, Ubuntu 22.04) knows; every key here is in it.
#: One main category: with "Utility;Network;" menus may list the app twice (a validator hint). Network ("Internet"
#: in menus) because the app's whole job is a web session; Utility is for accessories such as calculators.
DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Version=1.4
Name=Qwen token tray
GenericName=Token keeper
Comment=Keeps a chat.qwen.ai web session token alive
Exec=qwen-tray tray
Icon=qwen-tray
Terminal=false
Categories=Network;
StartupNotify=false
Keywords=qwen;token;
"""

Render = Callable[[IconFace, int], Image.Image]

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "assets"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def build(render: Render = render_icon) -> dict[str, bytes]:
    """Every asset as bytes, keyed by its path relative to the assets folder (with "/" separators).

    ``render`` draws a face at a size; tests pass one that reuses a committed render of the slow 1024 px icon.
    """
    app = {size: render(APP_FACE, size) for size in sorted({*PNG_SIZES, *ICO_SIZES, *ICNS_SIZES})}
    files = {"qwen-tray.png": _png(app[APP_ICON_SIZE])}
    files.update({f"qwen-tray-{size}.png": _png(app[size]) for size in PNG_SIZES})

    ico = io.BytesIO()
    largest = max(ICO_SIZES)
    app[largest].save(
        ico,
        format="ICO",
        sizes=[(size, size) for size in ICO_SIZES],
        append_images=[app[size] for size in ICO_SIZES if size != largest],
    )
    files["qwen-tray.ico"] = ico.getvalue()

    icns = io.BytesIO()
    # Pillow picks each entry from append_images by width and would resize the first image for a missing one.
    app[max(ICNS_SIZES)].save(icns, format="ICNS", append_images=[app[size] for size in ICNS_SIZES])
    files["qwen-tray.icns"] = icns.getvalue()

    for name, face in REPRESENTATIVE_FACES.items():
        files[f"states/qwen-tray-{name}-{STATE_SIZE}.png"] = _png(render(face, STATE_SIZE))
    files["qwen-tray.desktop"] = DESKTOP_ENTRY.encode()
    return files


def stale(directory: Path, files: dict[str, bytes]) -> list[str]:
    """The names in ``files`` whose copy in ``directory`` is missing or differs."""
    return [name for name, data in files.items() if _read(directory / name) != data]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write(directory: Path, files: dict[str, bytes]) -> list[str]:
    """Write the files that are missing or differ (others keep their mtime); return their names."""
    changed = stale(directory, files)
    for name in changed:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file is missing or stale")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        outdated = stale(args.directory, files)
        for name in outdated:
            sys.stderr.write(f"out of date: {args.directory / name}\n")
        if outdated:
            sys.stderr.write("run: python scripts/make_assets.py\n")
        return 1 if outdated else 0
    changed = write(args.directory, files)
    sys.stdout.write(f"{args.directory}: {len(changed)} written, {len(files) - len(changed)} unchanged\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

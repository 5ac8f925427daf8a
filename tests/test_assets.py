"""The committed ``assets/`` match what scripts/make_assets.py draws, and each file is what its platform expects.

Rendering the 1024 px macOS icon takes seconds (an 8192 px canvas), so the up-to-date check reuses the 1024
entry of the committed .icns and regenerates everything else: a change to the drawing changes the 512 px
entry of the same file, and the 16-256 px PNGs, so it still fails the check.
"""

from __future__ import annotations

import configparser
import importlib.util
import io
import shutil
import struct
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from PIL import IcoImagePlugin, Image

from tray_app.cli import build_parser
from tray_app.icon import REPRESENTATIVE_FACES, IconFace, render_icon

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
REGENERATE = "run `python scripts/make_assets.py` and commit assets/"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_assets", ROOT / "scripts" / "make_assets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_assets = _load_generator()


def icns_entries(data: bytes) -> dict[str, bytes]:
    """The blocks of an .icns file by type ("ic07", "TOC "...): a 4-byte type and a 4-byte length that counts both."""
    assert data[:4] == b"icns", "not an .icns file"
    assert struct.unpack(">I", data[4:8])[0] == len(data), "the .icns header's length is wrong"
    entries, offset = {}, 8
    while offset < len(data):
        kind, length = data[offset : offset + 4], struct.unpack(">I", data[offset + 4 : offset + 8])[0]
        assert length >= 8, f"bad .icns block length {length} at {offset}"
        entries[kind.decode("ascii")] = data[offset + 8 : offset + length]
        offset += length
    assert offset == len(data), "the .icns blocks overrun the file"
    return entries


@pytest.fixture(scope="module")
def generated() -> dict[str, bytes]:
    """Every asset as the generator makes it now, with the committed 1024 px render standing in for a fresh one."""
    try:
        committed_1024: Image.Image | None = _open(icns_entries((ASSETS / "qwen-tray.icns").read_bytes())["ic10"])
    except (OSError, KeyError, AssertionError, struct.error):  # missing or broken: the comparison will say so
        committed_1024 = None

    def render(face: IconFace, size: int) -> Image.Image:
        if size == 1024 and committed_1024 is not None:
            assert face == make_assets.APP_FACE
            return committed_1024.copy()
        return render_icon(face, size)

    files: dict[str, bytes] = make_assets.build(render)
    return files


def _open(path_or_data: Path | bytes) -> Image.Image:
    """A file's image, loaded and closed (Pillow keeps a path's file open until then)."""
    with Image.open(path_or_data if isinstance(path_or_data, Path) else io.BytesIO(path_or_data)) as image:
        image.load()
        loaded: Image.Image = image
        return loaded


def _pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    image = _open(data)
    return image.mode, image.size, image.tobytes()


def test_committed_assets_are_up_to_date(generated: dict[str, bytes], tmp_path: Path) -> None:
    assert make_assets.write(tmp_path, generated) == list(generated)
    problems = []
    for name, data in generated.items():
        committed = ASSETS / name
        if not committed.is_file():
            problems.append(f"{name}: missing")
        elif committed.read_bytes() != (tmp_path / name).read_bytes():
            same = name.endswith(".png") and _pixels(committed.read_bytes()) == _pixels(data)
            problems.append(f"{name}: {'same pixels, other encoding (Pillow/zlib version?)' if same else 'differs'}")
    assert not problems, f"assets/ is out of date with tray_app/icon.py; {REGENERATE}:\n" + "\n".join(problems)


def test_generator_leaves_fresh_files_alone(generated: dict[str, bytes], tmp_path: Path) -> None:
    make_assets.write(tmp_path, generated)
    written = {name: (tmp_path / name).stat().st_mtime_ns for name in generated}
    assert make_assets.stale(tmp_path, generated) == []
    assert make_assets.write(tmp_path, generated) == []
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in generated} == written


@pytest.mark.parametrize("size", make_assets.PNG_SIZES)
def test_hicolor_pngs_have_their_size(size: int) -> None:
    image = _open(ASSETS / f"qwen-tray-{size}.png")
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (size, size))


def test_app_icon_and_state_pngs() -> None:
    app = _open(ASSETS / "qwen-tray.png")
    assert (app.mode, app.size) == ("RGBA", (256, 256))
    names = {path.name for path in (ASSETS / "states").iterdir()}
    assert names == {f"qwen-tray-{state}-64.png" for state in REPRESENTATIVE_FACES}
    for name in names:
        assert _open(ASSETS / "states" / name).size == (64, 64)


def test_ico_holds_every_windows_size() -> None:
    sizes = [(size, size) for size in (16, 24, 32, 48, 64, 128, 256)]
    icon = _open(ASSETS / "qwen-tray.ico")
    assert icon.format == "ICO"
    assert sorted(icon.info["sizes"]) == sizes
    with (ASSETS / "qwen-tray.ico").open("rb") as file:
        frames = IcoImagePlugin.IcoFile(file)
        for size in sizes:
            frame = frames.getimage(size)
            assert (frame.mode, frame.size) == ("RGBA", size)


def test_icns_holds_every_macos_size() -> None:
    data = (ASSETS / "qwen-tray.icns").read_bytes()
    icon = _open(data)
    assert icon.format == "ICNS"
    # (points, points, scale): 16@2x and 32@2x are the 32 and 64 px renders.
    assert set(icon.info["sizes"]) == {
        (16, 16, 2),
        (32, 32, 2),
        (128, 128, 1),
        (128, 128, 2),
        (256, 256, 1),
        (256, 256, 2),
        (512, 512, 1),
        (512, 512, 2),
    }
    pixels = {"ic11": 32, "ic12": 64, "ic07": 128, "ic08": 256, "ic13": 256, "ic09": 512, "ic14": 512, "ic10": 1024}
    entries = icns_entries(data)
    for kind, size in pixels.items():
        assert _open(entries[kind]).size == (size, size), kind


@pytest.fixture(scope="module")
def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((ASSETS / "qwen-tray.desktop").read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return parser["Desktop Entry"]


def test_desktop_entry_has_the_required_keys(desktop_entry: configparser.SectionProxy) -> None:
    assert dict(desktop_entry) == {
        "Type": "Application",
        "Version": "1.4",
        "Name": "Qwen token tray",
        "GenericName": "Token keeper",
        "Comment": "Keeps a chat.qwen.ai web session token alive",
        "Exec": "qwen-tray tray",
        "Icon": "qwen-tray",
        "Terminal": "false",
        "Categories": "Network;",
        "StartupNotify": "false",
        "Keywords": "qwen;token;",
    }
    program, *arguments = desktop_entry["Exec"].split()
    assert program == build_parser().prog
    assert build_parser().parse_args(arguments).command == "tray"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_desktop_file_validate_reports_nothing() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(ASSETS / "qwen-tray.desktop")], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

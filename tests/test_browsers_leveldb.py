"""The read-only LevelDB reader against databases written by tests/leveldb_writer.py (code it shares
nothing with): newest record wins across logs and tables, deletions count, and every damaged or hostile
file is refused quickly with a one-line reason."""

from __future__ import annotations

import functools
import os
import random
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import cramjam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import leveldb_writer as lw
from tray_app.browsers import leveldb
from tray_app.browsers._common import (
    MAX_PIECE_BYTES,
    crc32c,
    crc32c_combine,
    crc32c_pure,
    mask_crc,
    unmask_crc,
)
from tray_app.browsers.leveldb import LevelRead, read_latest

KEY = b"_https://chat.qwen.ai\x00\x01token"
#: Every hostile input must be refused well within this (the reader never waits, never loops).
QUICK = 2.0


def other_key(index: int) -> bytes:
    return b"_https://site%05d.example\x00\x01k" % index


def fill(db: lw.Database, count: int, *, start: int = 0, size: int = 200) -> None:
    """Many other origins' keys with values that do not compress, in batches of 50 as a browser commits them."""
    noise = random.Random(start)  # noqa: S311 - filler that does not compress, not a secret
    for first in range(start, start + count, 50):
        batch = range(first, min(first + 50, start + count))
        db.write([(other_key(i), b"\x01" + noise.randbytes(size)) for i in batch])


@contextmanager
def quickly(limit: float = QUICK) -> Iterator[None]:
    began = time.monotonic()
    yield
    assert time.monotonic() - began < limit


def read(folder: Path, key: bytes = KEY, **kwargs: object) -> LevelRead:
    return read_latest(folder, key, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "leveldb"


# --- CRC-32C -----------------------------------------------------------------------------------------


def test_crc32c_known_value_and_reference() -> None:
    assert crc32c(b"123456789") == crc32c_pure(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    for size in (1, 7, 100, 4096):
        data = os.urandom(size)
        assert crc32c(data) == crc32c_pure(data) == lw.crc32c_bitwise(data)
    for size in (65535, 65536, 65537, 3 * 65536 + 5):  # several snappy frames, joined
        data = os.urandom(size)
        assert crc32c(data) == crc32c_pure(data)


def test_crc_masking_and_combination() -> None:
    for crc in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask_crc(mask_crc(crc)) == crc
        assert mask_crc(crc) == lw.mask(crc)
    first, second = os.urandom(1000), os.urandom(777)
    assert crc32c_combine(crc32c_pure(first), crc32c_pure(second), len(second)) == crc32c_pure(first + second)


# --- answers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["snappy", "none", "mixed"])
def test_newest_value_wins_across_log_and_tables(folder: Path, compression: str) -> None:
    db = lw.Database(folder, compression=compression)
    db.put(KEY, b"\x01one")
    fill(db, 500)
    db.flush()
    db.put(KEY, b"\x01two")
    fill(db, 500, start=500)
    db.flush()
    assert read(folder).value == b"\x01two"
    db.put(KEY, b"\x01three")  # only in the log
    result = read(folder)
    assert result.value == b"\x01three"
    assert result.record is not None and result.record.file.endswith(".log")
    assert result.skipped == []
    assert result.used_manifest


def test_a_value_changed_twice_leaves_old_values_in_older_files(folder: Path) -> None:
    db = lw.Database(folder, keep_old_logs=True)
    for value in (b"\x01first", b"\x01second", b"\x01third"):
        db.put(KEY, value)
        fill(db, 200)
        db.flush()
    tables = sorted(folder.glob("*.ldb"))
    assert len(tables) == 3 and len(list(folder.glob("*.log"))) == 4  # the old values are all still there
    result = read(folder)
    assert result.value == b"\x01third"
    assert result.record is not None and result.record.file == tables[-1].name


def test_deletion_hides_older_values(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01signed-in")
    db.flush()
    db.delete(KEY)  # sign-out, still in the log
    result = read(folder)
    assert result.value is None
    assert result.record is not None and result.record.value is None
    db.flush()  # the deletion moves into a table of its own
    assert read(folder).value is None
    db.put(KEY, b"\x01again")
    assert read(folder).value == b"\x01again"


def test_a_deletion_and_a_put_in_one_batch_count_in_order(folder: Path) -> None:
    db = lw.Database(folder)
    db.write([(KEY, b"\x01old"), (KEY, None), (KEY, b"\x01new")])
    assert read(folder).value == b"\x01new"
    db.write([(KEY, b"\x01x"), (KEY, None)])
    assert read(folder).value is None


def test_a_missing_key_is_none(folder: Path) -> None:
    db = lw.Database(folder)
    fill(db, 300)
    db.flush()
    fill(db, 30, start=300)
    result = read(folder)
    assert result.record is None and result.skipped == []


def test_many_writes_over_several_tables_read_only_what_is_needed(folder: Path) -> None:
    db = lw.Database(folder, crc=crc32c_pure)
    for round_number in range(12):
        fill(db, 1000, start=round_number * 1000, size=150)
        if round_number in (3, 7):
            db.put(KEY, b"\x01round%d" % round_number)
        db.flush()
    total = sum(path.stat().st_size for path in folder.iterdir())
    result = read(folder)
    assert result.value == b"\x01round7"
    assert total > 1_500_000
    # Tables whose key range excludes the key are never opened; the others give an index and a block or two.
    assert result.bytes_read < total / 10, (result.bytes_read, total)


@pytest.mark.parametrize("restart_interval", [1, 2, 16])
@pytest.mark.parametrize("block_size", [64, 1024])
def test_blocks_restarts_and_short_separators(folder: Path, restart_interval: int, block_size: int) -> None:
    """Keys placed on either side of block boundaries, with index keys shortened between blocks."""
    db = lw.Database(folder, block_size=block_size, restart_interval=restart_interval)
    keys = [b"_https://a\x00\x01k%03d" % i for i in range(0, 200, 2)]
    db.write([(key, b"\x01" + key[-3:]) for key in keys])
    db.flush()
    for key in keys:
        assert read(folder, key).value == b"\x01" + key[-3:]
    for missing in (b"_https://a\x00\x01k001", b"_https://a\x00\x01k999", b"_", b"zzz"):
        assert read(folder, missing).record is None


OPS = st.lists(
    st.tuples(st.sampled_from([b"a", b"ab", b"b", KEY, KEY + b"x"]), st.one_of(st.none(), st.binary(max_size=40))),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, flush_every=st.integers(min_value=1, max_value=12))
def test_matches_a_dictionary_model(tmp_path: Path, ops: list[tuple[bytes, bytes | None]], flush_every: int) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path)) / "leveldb"  # one per example
    db = lw.Database(folder, block_size=64, restart_interval=2, crc=crc32c_pure)
    model: dict[bytes, bytes | None] = {}
    for index, (key, value) in enumerate(ops):
        db.write([(key, value)])
        model[key] = value
        if index % flush_every == flush_every - 1:
            db.flush()
    for key, value in model.items():
        assert read(folder, key).value == value


def test_without_a_manifest_every_file_is_read_and_the_result_says_so(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01one")
    db.flush()
    db.put(KEY, b"\x01two")
    (folder / "CURRENT").unlink()
    result = read(folder)
    assert result.value == b"\x01two"
    assert not result.used_manifest
    assert result.skipped == ["MANIFEST unreadable (no CURRENT file): read every .log and .ldb in the folder instead"]


def test_the_manifest_keeps_obsolete_files_out(folder: Path) -> None:
    """A table a compaction replaced may linger on disk; only the MANIFEST knows it is dead."""
    db = lw.Database(folder)
    db.put(KEY, b"\x01stale")
    stale = db.flush()
    db.delete(KEY)
    gone = db.flush()
    assert stale is not None and gone is not None
    db.drop_table(stale.number)  # compacted: the put and its deletion both dropped...
    db.drop_table(gone.number)
    (folder / f"{gone.number:06d}.ldb").unlink()  # ...and the deletion's file removed, the put's not yet
    assert read(folder).record is None
    (folder / "CURRENT").unlink()  # without the MANIFEST, the stale value comes back (and the result says why)
    fallback = read(folder)
    assert fallback.value == b"\x01stale" and not fallback.used_manifest


def test_a_table_the_manifest_lists_but_that_is_gone_is_skipped_with_a_reason(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01old")
    old = db.flush()
    db.put(KEY, b"\x01newer")
    newer = db.flush()
    assert old is not None and newer is not None
    (folder / f"{newer.number:06d}.ldb").unlink()
    result = read(folder)
    assert result.value == b"\x01old"
    assert result.skipped == [f"table {newer.number:06d}.ldb, listed by the MANIFEST, is missing"]


def test_a_compaction_during_the_read_starts_it_over(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The browser compacts while we read: the table we are about to open is replaced by a new one and
    deleted. The read starts over from CURRENT and finds the value in the new table, with nothing skipped."""
    db = lw.Database(folder)
    db.put(KEY, b"\x01kept")
    old = db.flush()
    assert old is not None
    real_open = leveldb.open_regular
    compacted: list[str] = []

    def compacting_open(path: Path) -> BinaryIO:
        if path.name == f"{old.number:06d}.ldb" and not compacted:
            new_number = db.next_file
            db.next_file += 1
            (folder / f"{new_number:06d}.ldb").write_bytes(path.read_bytes())
            db.manifest.add(
                lw.version_edit(
                    deleted=[(0, old.number)],
                    new_files=[lw.NewFile(1, new_number, old.size, old.smallest, old.largest)],
                )
            )
            path.unlink()
            compacted.append(path.name)
        return real_open(path)

    monkeypatch.setattr(leveldb, "open_regular", compacting_open)
    result = read(folder)
    assert compacted and result.value == b"\x01kept"
    assert result.record is not None and result.record.file != compacted[0]
    assert result.skipped == []


def test_never_writes_nor_opens_the_lock(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01v")
    db.flush()
    db.put(KEY, b"\x01w")
    db.close()
    before = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()}
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def recording_open(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        opened.append((os.fspath(path), flags))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", recording_open)
    assert read(folder).value == b"\x01w"
    monkeypatch.undo()
    assert opened, "the reader opens files through os.open"
    assert not [path for path, _flags in opened if path.endswith("LOCK")]
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    assert all(flags & write_flags == 0 for _path, flags in opened)
    assert {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()} == before


# --- hostile and damaged files -----------------------------------------------------------------------


def two_generation_db(folder: Path, *, compression: str = "snappy") -> lw.Database:
    """An older value in table 1, the newest in table 2 (and 300 other keys in each)."""
    db = lw.Database(folder, compression=compression)
    db.put(KEY, b"\x01older")
    fill(db, 300)
    db.flush()
    db.put(KEY, b"\x01newest")
    fill(db, 300, start=300)
    db.flush()
    return db


def newest_table(folder: Path) -> Path:
    return sorted(folder.glob("*.ldb"))[-1]


def rewrite_footer(table: Path, metaindex: tuple[int, int], index: tuple[int, int], *, magic: int = lw.MAGIC) -> None:
    data = table.read_bytes()
    handles = lw.varint(metaindex[0]) + lw.varint(metaindex[1]) + lw.varint(index[0]) + lw.varint(index[1])
    table.write_bytes(data[:-48] + handles.ljust(40, b"\x00") + struct.pack("<Q", magic))


def footer_handles(table: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    footer = table.read_bytes()[-48:]
    numbers = []
    pos = 0
    for _ in range(4):
        value = shift = 0
        while True:
            byte = footer[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        numbers.append(value)
    return (numbers[0], numbers[1]), (numbers[2], numbers[3])


def assert_refused(folder: Path, reason: str, *, value: bytes | None = b"\x01older") -> LevelRead:
    """The damaged newest table is skipped with ``reason``; the older table still answers."""
    with quickly():
        result = read(folder)
    assert result.value == value
    assert any(reason in line for line in result.skipped), result.skipped
    assert all("\n" not in line for line in result.skipped)
    return result


def test_wrong_magic_is_refused(folder: Path) -> None:
    two_generation_db(folder)
    table = newest_table(folder)
    metaindex, index = footer_handles(table)
    rewrite_footer(table, metaindex, index, magic=0x1234)
    assert_refused(folder, f"{table.name}: not a LevelDB table (wrong magic number); skipped")


def test_a_file_too_short_for_a_table_is_refused(folder: Path) -> None:
    two_generation_db(folder)
    newest_table(folder).write_bytes(b"tiny")
    assert_refused(folder, "4 bytes, too short for a table")


def test_a_block_handle_beyond_the_file_is_refused(folder: Path) -> None:
    two_generation_db(folder)
    table = newest_table(folder)
    metaindex, _index = footer_handles(table)
    rewrite_footer(table, metaindex, (table.stat().st_size * 4, 100))
    assert_refused(folder, "a block handle points past the end of the file")


def trailer(contents: bytes, compression: int = 0) -> bytes:
    body = contents + bytes([compression])
    return body + struct.pack("<I", lw.mask(lw.crc32c_bitwise(body) if len(body) < 5000 else crc32c(body)))


def raw_table(data_block: bytes, compression: int, index_entries: Callable[[int], list[tuple[bytes, bytes]]]) -> bytes:
    """A table of one stored data block, whose index is built knowing where the index itself will be."""
    block = trailer(data_block, compression)
    meta = lw.build_block([], 1)
    index_offset = len(block) + len(meta) + 5
    index = lw.build_block(index_entries(index_offset), 1)
    handles = lw.varint(len(block)) + lw.varint(len(meta)) + lw.varint(index_offset) + lw.varint(len(index))
    footer = handles.ljust(40, b"\x00") + struct.pack("<Q", lw.MAGIC)
    return block + trailer(meta) + trailer(index) + footer


def add_table(db: lw.Database, number: int, table: bytes) -> None:
    (db.folder / f"{number:06d}.ldb").write_bytes(table)
    newest = lw.internal_key(KEY, 1000)
    db.manifest.add(lw.version_edit(new_files=[lw.NewFile(0, number, len(table), newest, newest)]))


def test_a_block_handle_pointing_back_at_the_index_is_refused(folder: Path) -> None:
    """An index whose entry points at the index block itself: a loop, refused, never followed."""
    db = lw.Database(folder)
    db.put(KEY, b"\x01older")
    db.flush()
    data = lw.build_block([(lw.internal_key(KEY, 1000), b"\x01newest")], 16)

    def looping(index_offset: int) -> list[tuple[bytes, bytes]]:
        size = len(lw.build_block([(lw.internal_key(KEY, 0), lw.varint(index_offset) + lw.varint(0))], 1))
        for _ in range(3):  # the handle's own length is part of the size it names
            entry = [(lw.internal_key(KEY, 0), lw.varint(index_offset) + lw.varint(size))]
            size = len(lw.build_block(entry, 1))
        return entry

    add_table(db, 50, raw_table(data, 0, looping))
    assert_refused(folder, "000050.ldb: two block handles point at byte")


def test_a_block_that_fails_its_checksum_is_refused(folder: Path) -> None:
    two_generation_db(folder, compression="none")
    table = newest_table(folder)
    data = bytearray(table.read_bytes())
    data[data.find(b"\x01newest") + 2] ^= 0xFF  # inside the data block that holds the key
    table.write_bytes(bytes(data))
    assert_refused(folder, f"{table.name}: the data block at byte 0 fails its checksum; skipped")


def test_huge_varints_are_refused(folder: Path) -> None:
    two_generation_db(folder)
    table = newest_table(folder)
    data = table.read_bytes()
    table.write_bytes(data[:-48] + b"\xff" * 40 + struct.pack("<Q", lw.MAGIC))
    assert_refused(folder, "a number is longer than 10 bytes")


def test_a_snappy_bomb_is_refused_before_it_expands(folder: Path) -> None:
    """A block of 40 MiB of zeroes compresses to under 2 MiB: refused from its length header, as is a
    header that claims 20 MiB from 20 bytes."""
    db = lw.Database(folder)
    db.put(KEY, b"\x01older")
    db.flush()
    bomb = bytes(cramjam.snappy.compress_raw(b"\x00" * (40 * 1024 * 1024)))
    assert len(bomb) < 3 * 1024 * 1024
    lying = lw.varint(20 * 1024 * 1024) + b"\x00" * 16  # under the size limit, but not from 20 bytes
    for number, payload in ((50, bomb), (51, lying)):

        def index(_offset: int, size: int = len(payload)) -> list[tuple[bytes, bytes]]:
            return [(lw.internal_key(KEY + b"\xff", 0), lw.varint(0) + lw.varint(size))]

        add_table(db, number, raw_table(payload, 1, index))
    result = assert_refused(folder, f"would expand to {40 * 1024 * 1024} bytes (at most {MAX_PIECE_BYTES}")
    assert any("claims 20971520 bytes from 20: more than snappy can produce" in line for line in result.skipped)


def log_with_key_records(folder: Path) -> tuple[lw.Database, Path]:
    db = lw.Database(folder)
    db.put(KEY, b"\x01first")
    fill(db, 100)
    db.put(KEY, b"\x01second")
    return db, db.log_path


def test_a_truncated_last_record_leaves_the_records_before_it(folder: Path) -> None:
    db, log = log_with_key_records(folder)
    db.put(KEY, b"\x01third-" + b"z" * 3000)
    size = log.stat().st_size
    with log.open("r+b") as handle:
        handle.truncate(size - 1000)  # mid-record: the browser was writing it
    with quickly():
        result = read(folder)
    assert result.value == b"\x01second"
    assert any("is cut short; the records before it count" in line for line in result.skipped), result.skipped


def test_a_record_split_over_blocks_and_cut_short(folder: Path) -> None:
    db, log = log_with_key_records(folder)
    db.put(KEY, b"\x01big-" + b"q" * 100_000)  # FIRST, MIDDLE..., LAST over four blocks
    assert read(folder).value == b"\x01big-" + b"q" * 100_000
    with log.open("r+b") as handle:
        handle.truncate(log.stat().st_size - 10)
    result = read(folder)
    assert result.value == b"\x01second"
    assert any("cut short" in line for line in result.skipped)


def test_a_log_record_claiming_bytes_past_its_block(folder: Path) -> None:
    db, log = log_with_key_records(folder)
    db.put(KEY, b"\x01later")
    fill(db, 300, start=1000)  # more blocks after the damaged one
    data = bytearray(log.read_bytes())
    at = data.rfind(b"\x01later") - 1 - len(KEY) - 1 - 1 - 12 - 7  # the header of the record holding it
    assert data[at + 6] == lw.FULL
    data[at + 4 : at + 6] = struct.pack("<H", 0xFFFF)
    log.write_bytes(bytes(data))
    with quickly():
        result = read(folder)
    assert result.value == b"\x01second"
    assert any("past its block; skipped" in line for line in result.skipped), result.skipped


def test_a_log_record_failing_its_checksum_is_skipped(folder: Path) -> None:
    _db, log = log_with_key_records(folder)
    data = bytearray(log.read_bytes())
    at = data.rfind(b"\x01second")
    data[at + 3] ^= 0x01
    log.write_bytes(bytes(data))
    result = read(folder)
    assert result.value == b"\x01first"
    assert any("fails its checksum; skipped" in line for line in result.skipped), result.skipped


def test_a_batch_with_a_huge_varint_is_skipped(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01good")
    hostile = struct.pack("<QI", 100, 1) + b"\x01" + lw.length_prefixed(KEY) + b"\xff" * 12
    db.log.add(hostile)
    db.log.add(struct.pack("<QI", 200, 4_000_000_000) + b"\x00" + lw.length_prefixed(KEY))  # count far too big
    with quickly():
        result = read(folder)
    assert result.value == b"\x01good"
    assert any("a number is longer than 5 bytes" in line for line in result.skipped), result.skipped
    assert any("it says 4000000000 records" in line for line in result.skipped), result.skipped


def test_a_manifest_symlink_loop_falls_back(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01v")
    db.flush()
    manifest = next(folder.glob("MANIFEST-*"))
    manifest.unlink()
    manifest.symlink_to(manifest.name)  # a loop: MANIFEST-000001 -> MANIFEST-000001
    with quickly():
        result = read(folder)
    assert result.value == b"\x01v"
    assert not result.used_manifest
    assert "MANIFEST unreadable" in result.skipped[0]


def test_current_cannot_point_outside_the_folder(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01v")
    (folder / "CURRENT").write_text("../../etc/passwd\n")
    result = read(folder)
    assert result.value == b"\x01v"
    assert result.skipped[0].startswith("MANIFEST unreadable (CURRENT does not name a MANIFEST-NNNNNN file)")


def test_a_manifest_with_an_unknown_field_falls_back(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01v")
    db.manifest.add(lw.varint(42) + lw.varint(1))
    result = read(folder)
    assert result.value == b"\x01v" and not result.used_manifest
    assert "unknown field 42" in result.skipped[0]


def test_an_endless_manifest_stops_at_the_byte_limit(folder: Path) -> None:
    """A manifest that adds and removes the same table over and over (a loop written out)."""
    db = lw.Database(folder, crc=crc32c_pure)
    db.put(KEY, b"\x01v")
    table = db.flush()
    assert table is not None
    edit = lw.version_edit(deleted=[(0, table.number)], new_files=[table])
    db.manifest.add_many([edit] * 40_000)
    with quickly():
        result = read(folder, max_bytes=1024 * 1024)
    assert result.record is None
    assert result.skipped == ["stopped reading: over the limit of 1 MiB read per profile"]


def test_a_fifo_is_not_waited_on(folder: Path) -> None:
    db = lw.Database(folder)
    db.put(KEY, b"\x01v")
    db.flush()
    os.mkfifo(folder / "000099.log")  # a live log (number above the MANIFEST's) that is a pipe
    with quickly():
        result = read(folder)
    assert result.value == b"\x01v"
    assert "000099.log: 000099.log is not a regular file; skipped" in result.skipped


def test_too_many_restart_points_are_refused(folder: Path) -> None:
    db = two_generation_db(folder, compression="none")
    del db
    table = newest_table(folder)
    _metaindex, index = footer_handles(table)
    data = bytearray(table.read_bytes())
    end = index[0] + index[1]
    data[end - 4 : end] = struct.pack("<I", 0x7FFFFFFF)
    body = bytes(data[index[0] : end]) + b"\x00"
    data[end + 1 : end + 5] = struct.pack("<I", lw.mask(crc32c(body)))
    table.write_bytes(bytes(data))
    assert_refused(folder, "claims 2147483647 restart points")


class SteppingClock:
    """Each reading of the clock moves it on by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_time_limit_stops_the_read(folder: Path) -> None:
    db = lw.Database(folder)
    fill(db, 2000)
    db.put(KEY, b"\x01v")
    clock: Callable[[], float] = SteppingClock(1.0)
    result = read(folder, deadline=5.0, clock=clock)
    assert result.record is None
    assert result.skipped == ["stopped reading: over the time limit of 4 s"]


# --- random damage ---------------------------------------------------------------------------------------


@functools.cache
def template() -> dict[str, bytes]:
    """A small database (two tables, one plain and one snappy, and a log) to damage at random."""
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir) / "leveldb"
        db = lw.Database(folder, compression="mixed", block_size=512, crc=crc32c_pure)
        db.put(KEY, b"\x01one")
        fill(db, 100, size=60)
        db.flush()
        db.put(KEY, b"\x01two")
        fill(db, 100, start=100, size=60)
        db.flush()
        db.put(KEY, b"\x01three")
        fill(db, 100, start=200, size=60)
        return {path.name: path.read_bytes() for path in folder.iterdir()}


DAMAGE = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "ff", "insert"]),
        st.integers(min_value=0, max_value=10),  # which file (modulo their number)
        st.floats(min_value=0, max_value=1),  # where in it
        st.binary(min_size=1, max_size=16),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=DAMAGE)
def test_random_damage_never_crashes_nor_hangs(tmp_path: Path, damage: list[tuple[str, int, float, bytes]]) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    files = dict(template())
    names = sorted(files)
    for kind, which, where, noise in damage:
        name = names[which % len(names)]
        data = bytearray(files[name])
        at = int(where * len(data))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= noise[0] or 1
        elif kind == "cut":
            del data[at:]
        elif kind == "ff":
            data[at : at + len(noise)] = b"\xff" * len(noise)
        else:
            data[at:at] = noise
        files[name] = bytes(data)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with quickly():
        result = read(folder)
    assert result.value in (None, b"\x01one", b"\x01two", b"\x01three")
    assert all(isinstance(line, str) and "\n" not in line for line in result.skipped)

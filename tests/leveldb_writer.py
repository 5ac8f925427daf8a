"""A small LevelDB *writer* for tests: logs, tables (snappy and plain blocks, restart points, shortened
index separators), MANIFEST and CURRENT, written from LevelDB's documented formats.

It shares no code with ``tray_app.browsers.leveldb`` (its CRC-32C is its own, bit by bit), so the reader
is tested on files it did not write itself. Hostile files are made by writing a good one and then
breaking it (see the tests).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cramjam

BLOCK_SIZE = 32768
MAGIC = 0xDB4775248B80FB57
MAX_SEQUENCE = (1 << 56) - 1
VALUE, DELETION = 1, 0
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C computed bit by bit: slow and obviously right (no tables, no tricks)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


Crc = Callable[[bytes], int]


def varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def length_prefixed(data: bytes) -> bytes:
    return varint(len(data)) + data


def internal_key(user_key: bytes, sequence: int, kind: int = VALUE) -> bytes:
    return user_key + struct.pack("<Q", (sequence << 8) | kind)


def write_batch(sequence: int, ops: Sequence[tuple[bytes, bytes | None]]) -> bytes:
    """A WriteBatch: sequence u64, count u32, then put (1, key, value) / delete (0, key) records."""
    out = bytearray(struct.pack("<QI", sequence, len(ops)))
    for key, value in ops:
        if value is None:
            out += bytes([DELETION]) + length_prefixed(key)
        else:
            out += bytes([VALUE]) + length_prefixed(key) + length_prefixed(value)
    return bytes(out)


class LogWriter:
    """Physical records in 32 KiB blocks; a record that does not fit is split FIRST/MIDDLE/LAST. Each
    record is appended and on disk when :meth:`add` returns (no file is held open)."""

    def __init__(self, path: Path, *, crc: Crc = crc32c_bitwise) -> None:
        self.path = path
        self.crc = crc
        path.touch()
        self.block_offset = path.stat().st_size % BLOCK_SIZE

    def add(self, record: bytes) -> None:
        self.add_many([record])

    def add_many(self, records: Iterable[bytes]) -> None:
        out = bytearray()
        for record in records:
            out += self._encode(record)
        with self.path.open("ab") as file:
            file.write(out)

    def _encode(self, record: bytes) -> bytes:
        out = bytearray()
        first = True
        while True:
            left = BLOCK_SIZE - self.block_offset
            if left < 7:
                out += b"\x00" * left  # too small for a header: zero trailer
                self.block_offset = 0
                left = BLOCK_SIZE
            room = left - 7
            piece, record = record[:room], record[room:]
            last = not record
            kind = FULL if first and last else FIRST if first else LAST if last else MIDDLE
            checksum = mask(self.crc(bytes([kind]) + piece))
            out += struct.pack("<IHB", checksum, len(piece), kind) + piece
            self.block_offset += 7 + len(piece)
            first = False
            if last:
                return bytes(out)

    def close(self) -> None:
        """Nothing is held open; kept so callers read like they would with a real writer."""


def write_log(path: Path, records: Iterable[bytes], *, crc: Crc = crc32c_bitwise) -> None:
    writer = LogWriter(path, crc=crc)
    for record in records:
        writer.add(record)
    writer.close()


# --- tables ------------------------------------------------------------------------------------------


def build_block(entries: Sequence[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out = bytearray()
    restarts = []
    previous = b""
    for index, (key, value) in enumerate(entries):
        if index % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            limit = min(len(previous), len(key))
            while shared < limit and previous[shared] == key[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    if not restarts:
        restarts.append(0)
    for offset in restarts:
        out += struct.pack("<I", offset)
    out += struct.pack("<I", len(restarts))
    return bytes(out)


def user_order(key: bytes) -> tuple[bytes, int]:
    """Sort key for internal keys: user key ascending, then tag descending."""
    (tag,) = struct.unpack("<Q", key[-8:])
    return key[:-8], -tag


def separator(last: bytes, following: bytes) -> bytes:
    """A short key >= ``last`` and < ``following`` (LevelDB's FindShortestSeparator on user keys)."""
    user_a, user_b = last[:-8], following[:-8]
    common = 0
    while common < min(len(user_a), len(user_b)) and user_a[common] == user_b[common]:
        common += 1
    if common < min(len(user_a), len(user_b)):
        byte = user_a[common]
        if byte < 0xFF and byte + 1 < user_b[common]:
            shorter = user_a[:common] + bytes([byte + 1])
            return shorter + struct.pack("<Q", (MAX_SEQUENCE << 8) | VALUE)
    return last


@dataclass
class TableWriter:
    path: Path
    compression: str = "snappy"  # "snappy", "none", or "mixed" (alternate blocks)
    block_size: int = 4096
    restart_interval: int = 16
    crc: Crc = crc32c_bitwise
    out: bytearray = field(default_factory=bytearray)
    pending: list[tuple[bytes, bytes]] = field(default_factory=list)
    pending_size: int = 0
    index: list[tuple[bytes, bytes]] = field(default_factory=list)
    last_handle: bytes | None = None
    last_key: bytes = b""
    blocks: int = 0

    def add(self, key: bytes, value: bytes) -> None:
        if self.last_handle is not None:
            self.index.append((separator(self.last_key, key), self.last_handle))
            self.last_handle = None
        self.pending.append((key, value))
        self.pending_size += len(key) + len(value) + 3
        self.last_key = key
        if self.pending_size >= self.block_size:
            self._flush()

    def _write_block(self, contents: bytes, *, compress: bool) -> bytes:
        kind = 0
        if compress:
            packed = bytes(cramjam.snappy.compress_raw(contents))
            if len(packed) < len(contents) - len(contents) // 8:  # LevelDB keeps snappy only if it saves 1/8
                contents, kind = packed, 1
        handle = varint(len(self.out)) + varint(len(contents))
        checksum = mask(self.crc(contents + bytes([kind])))
        self.out += contents + bytes([kind]) + struct.pack("<I", checksum)
        return handle

    def _compress_next(self) -> bool:
        if self.compression == "mixed":
            return self.blocks % 2 == 0
        return self.compression == "snappy"

    def _flush(self) -> None:
        if not self.pending:
            return
        block = build_block(self.pending, self.restart_interval)
        self.last_handle = self._write_block(block, compress=self._compress_next())
        self.blocks += 1
        self.pending, self.pending_size = [], 0

    def finish(self) -> int:
        self._flush()
        if self.last_handle is not None:
            self.index.append((self.last_key, self.last_handle))
        metaindex = self._write_block(build_block([], 1), compress=False)
        index = self._write_block(build_block(self.index, 1), compress=self._compress_next())
        footer = (metaindex + index).ljust(40, b"\x00") + struct.pack("<Q", MAGIC)
        self.out += footer
        self.path.write_bytes(bytes(self.out))
        return len(self.out)


def write_table(
    path: Path,
    entries: Iterable[tuple[bytes, bytes]],
    *,
    compression: str = "snappy",
    block_size: int = 4096,
    restart_interval: int = 16,
    crc: Crc = crc32c_bitwise,
) -> int:
    """Write sorted ``(internal key, value)`` entries as a table; returns its size."""
    writer = TableWriter(path, compression, block_size, restart_interval, crc)
    for key, value in entries:
        writer.add(key, value)
    return writer.finish()


# --- MANIFEST and a whole database -------------------------------------------------------------------


@dataclass(frozen=True)
class NewFile:
    level: int
    number: int
    size: int
    smallest: bytes
    largest: bytes


def version_edit(
    *,
    comparator: str | None = None,
    log_number: int | None = None,
    prev_log_number: int | None = None,
    next_file: int | None = None,
    last_sequence: int | None = None,
    deleted: Sequence[tuple[int, int]] = (),
    new_files: Sequence[NewFile] = (),
) -> bytes:
    out = bytearray()
    if comparator is not None:
        out += varint(1) + length_prefixed(comparator.encode())
    if log_number is not None:
        out += varint(2) + varint(log_number)
    if prev_log_number is not None:
        out += varint(9) + varint(prev_log_number)
    if next_file is not None:
        out += varint(3) + varint(next_file)
    if last_sequence is not None:
        out += varint(4) + varint(last_sequence)
    for level, number in deleted:
        out += varint(6) + varint(level) + varint(number)
    for new in new_files:
        out += varint(7) + varint(new.level) + varint(new.number) + varint(new.size)
        out += length_prefixed(new.smallest) + length_prefixed(new.largest)
    return bytes(out)


@dataclass
class Database:
    """A LevelDB folder as Chromium leaves it. Writes go to the current log; :meth:`flush` turns the log's
    records into a level-0 table (every version kept, as LevelDB's flush does), starts a new log and records
    both in the MANIFEST. Old tables stay, so old values linger in older files."""

    folder: Path
    compression: str = "snappy"
    block_size: int = 4096
    restart_interval: int = 16
    crc: Crc = crc32c_bitwise
    keep_old_logs: bool = False
    sequence: int = 0
    next_file: int = 1
    memtable: list[tuple[bytes, bytes]] = field(default_factory=list)
    tables: dict[int, NewFile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest_number = self._new_number()
        self.log_number = self._new_number()
        (self.folder / "LOCK").write_bytes(b"")
        self.manifest = LogWriter(self.folder / f"MANIFEST-{self.manifest_number:06d}", crc=self.crc)
        self.manifest.add(
            version_edit(
                comparator="leveldb.BytewiseComparator",
                log_number=self.log_number,
                next_file=self.next_file,
                last_sequence=0,
            )
        )
        (self.folder / "CURRENT").write_text(f"MANIFEST-{self.manifest_number:06d}\n")
        self.log = LogWriter(self.log_path, crc=self.crc)

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.log_number:06d}.log"

    def _new_number(self) -> int:
        number = self.next_file
        self.next_file += 1
        return number

    def write(self, ops: Sequence[tuple[bytes, bytes | None]]) -> None:
        """One batch of puts (bytes) and deletes (None), as one log record."""
        first = self.sequence + 1
        self.log.add(write_batch(first, ops))
        for index, (key, value) in enumerate(ops):
            kind = DELETION if value is None else VALUE
            self.memtable.append((internal_key(key, first + index, kind), value or b""))
        self.sequence += len(ops)

    def put(self, key: bytes, value: bytes) -> None:
        self.write([(key, value)])

    def delete(self, key: bytes) -> None:
        self.write([(key, None)])

    def flush(self, *, level: int = 0) -> NewFile | None:
        """The current log → a table; a fresh log; one VersionEdit saying so."""
        table = None
        if self.memtable:
            number = self._new_number()
            entries = sorted(self.memtable, key=lambda entry: user_order(entry[0]))
            size = write_table(
                self.folder / f"{number:06d}.ldb",
                entries,
                compression=self.compression,
                block_size=self.block_size,
                restart_interval=self.restart_interval,
                crc=self.crc,
            )
            table = NewFile(level, number, size, entries[0][0], entries[-1][0])
            self.tables[number] = table
            self.memtable = []
        self.log.close()
        old_log = self.log_path
        self.log_number = self._new_number()
        self.log = LogWriter(self.log_path, crc=self.crc)
        self.manifest.add(
            version_edit(
                log_number=self.log_number,
                next_file=self.next_file,
                last_sequence=self.sequence,
                new_files=[table] if table else [],
            )
        )
        if not self.keep_old_logs:
            old_log.unlink()
        return table

    def drop_table(self, number: int) -> None:
        """Record in the MANIFEST that a table is no longer live (as a compaction does); the file stays."""
        table = self.tables.pop(number)
        self.manifest.add(version_edit(deleted=[(table.level, number)]))

    def close(self) -> None:
        self.log.close()
        self.manifest.close()

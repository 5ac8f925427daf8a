"""A small, read-only reader of LevelDB as Chromium's localStorage keeps it: one key's newest record.

Chromium writes localStorage to ``<profile>/Local Storage/leveldb``: a write-ahead ``NNNNNN.log`` of
batches and sorted ``NNNNNN.ldb`` tables, listed by the ``MANIFEST-NNNNNN`` that ``CURRENT`` names.
Old values linger in older files until compaction, so the answer is the record with the highest
sequence number across every live file; a deletion with the highest sequence means "gone".

How it reads (from LevelDB's documented formats: log_format.md, table_format.md, the VersionEdit
encoding), and why:

- ``CURRENT`` → the MANIFEST, a log of VersionEdits: the live tables (with their smallest and largest
  keys, so a table that cannot hold the key is never opened) and the log number (older logs are
  obsolete). If the MANIFEST cannot be read, every ``.log``/``.ldb``/``.sst`` in the folder is read
  instead and the result says so: an obsolete file could then resurrect a value deleted since.
- Logs are streamed 32 KiB block by block. A record is checksummed and parsed only if the key's bytes
  occur in it; a record without them cannot change the answer. A torn last record (the browser is
  writing) is skipped with a note; the records before it count.
- Tables: footer → index block → the one data block that can hold the key (binary search over
  restart points); checksums of every block read are verified.
- Files are read in place and never written; ``LOCK`` is never opened. Copying first would not help:
  a copy opens the same files with the same rights (a running Chromium on Linux locks nothing a reader
  needs; on Windows its files are opened shareable). Tables are immutable and logs append-only, so an
  in-place read sees a consistent past state; if a live file vanishes mid-read (compaction), the read
  starts over once.
- Everything is bounded: bytes per read and a deadline (:class:`~tray_app.browsers._common.Budget`),
  block and record sizes (:data:`~tray_app.browsers._common.MAX_PIECE_BYTES`), snappy output declared
  before it is produced. A damaged or hostile file is skipped with a one-line reason, never a crash.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tray_app.browsers._common import (
    MAX_PIECE_BYTES,
    Budget,
    LimitReached,
    Unreadable,
    masked_crc32c,
    open_regular,
    read_exact,
    read_length_prefixed,
    read_varint,
    snappy_decompress,
)

#: Bytes one read may take by default (every file of one database together).
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
#: Seconds one read may take by default.
DEFAULT_SECONDS = 10.0

TABLE_MAGIC = 0xDB4775248B80FB57
BLOCK_SIZE = 32 * 1024
_HEADER = 7  # checksum u32, length u16, type u8
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_FOOTER = 48
_TRAILER = 5  # compression type u8, masked crc u32
_MAX_SEQUENCE = (1 << 56) - 1
_TYPE_DELETION, _TYPE_VALUE = 0, 1
_BYTEWISE = "leveldb.BytewiseComparator"
_NUM_LEVELS = 7
_MAX_SMALL_FILE = 4096  # CURRENT holds one short line
_FILE_NAME = re.compile(r"(\d{1,20})\.(log|ldb|sst)")
_MANIFEST_NAME = re.compile(r"MANIFEST-(\d{1,20})")


@dataclass(frozen=True)
class LevelValue:
    """The newest record for a key: its value (None for a deletion), sequence number and file."""

    value: bytes | None
    sequence: int
    file: str


@dataclass
class LevelRead:
    """What one :func:`read_latest` found, and everything it had to leave out (one line each)."""

    record: LevelValue | None = None
    skipped: list[str] = field(default_factory=list)
    used_manifest: bool = True
    files_read: int = 0
    bytes_read: int = 0

    @property
    def value(self) -> bytes | None:
        """The live value, or None when the key is absent or its newest record is a deletion."""
        return None if self.record is None else self.record.value


def read_latest(
    folder: Path,
    wanted_key: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    budget: Budget | None = None,
) -> LevelRead:
    """The newest record for ``wanted_key`` in the LevelDB at ``folder``, read-only and bounded.

    ``deadline`` is a moment on ``clock`` (default: :data:`DEFAULT_SECONDS` from now); ``budget``, if
    given, replaces both limits (the browser scan shares one deadline across profiles). Never raises for
    a damaged database: what could not be read is in ``skipped``, one line each; over a limit, ``record``
    is None and the reason is in ``skipped`` (a partial answer could be an old value).
    """
    if budget is None:
        now = clock()
        seconds = DEFAULT_SECONDS if deadline is None else max(0.0, deadline - now)
        budget = Budget(max_bytes=max_bytes, deadline=now + seconds, seconds=seconds, clock=clock)
    result = LevelRead()
    for strict in (True, False):
        result = LevelRead()
        try:
            _read_into(result, folder, wanted_key, budget, strict=strict)
        except _Vanished:
            continue  # compacted while we read: once more, now taking missing files as skipped
        except LimitReached as exc:
            result.record = None
            result.skipped.append(f"stopped reading: {exc}")
        except Unreadable as exc:
            result.record = None
            result.skipped.append(str(exc))
        except OSError as exc:
            result.record = None
            result.skipped.append(f"the folder cannot be read ({_os_reason(exc)})")
        break
    result.bytes_read = budget.used
    return result


#: A folder with more entries than this is not a browser's localStorage.
MAX_FOLDER_ENTRIES = 100_000


class _Vanished(Exception):
    """A live file disappeared after the MANIFEST named it: the browser compacted meanwhile."""


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _list_folder(folder: Path, budget: Budget) -> set[str]:
    names: set[str] = set()
    for entry in folder.iterdir():
        names.add(entry.name)
        if len(names) > MAX_FOLDER_ENTRIES:
            raise Unreadable(f"the folder holds more than {MAX_FOLDER_ENTRIES} files")
    budget.check_time()
    return names


@dataclass
class _Plan:
    """Which files to read: every live log and table, with table key ranges where the MANIFEST gave them."""

    files: list[str]
    ranges: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    bytewise: bool = True

    def may_hold(self, name: str, wanted: bytes) -> bool:
        key_range = self.ranges.get(name)
        if not self.bytewise or key_range is None:
            return True
        return key_range[0][:-8] <= wanted <= key_range[1][:-8]


def _plan(result: LevelRead, folder: Path, budget: Budget, *, strict: bool) -> _Plan:
    names = _list_folder(folder, budget)
    try:
        manifest = _read_manifest(folder, names, budget)
    except LimitReached:
        raise
    except (Unreadable, OSError) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        result.used_manifest = False
        result.skipped.append(f"MANIFEST unreadable ({reason}): read every .log and .ldb in the folder instead")
        return _Plan(_all_files(names))
    plan = _Plan([name for number, name in _numbered(names, "log") if manifest.log_is_live(number)])
    plan.bytewise = manifest.comparator in (None, _BYTEWISE)
    if not plan.bytewise:
        result.skipped.append(f"unknown key order {manifest.comparator!r}: every block of every table is read")
    for number, key_range in sorted(manifest.files.items()):
        name = _table_name(number, names)
        if name is None:
            if strict:
                raise _Vanished
            result.skipped.append(f"table {number:06d}.ldb, listed by the MANIFEST, is missing")
            continue
        plan.ranges[name] = key_range
        plan.files.append(name)
    return plan


def _read_into(result: LevelRead, folder: Path, wanted: bytes, budget: Budget, *, strict: bool) -> None:
    """One attempt. ``strict``: a live file that is missing raises _Vanished (try again) instead of
    being skipped."""
    plan = _plan(result, folder, budget, strict=strict)
    best: LevelValue | None = None
    for name in plan.files:
        if not plan.may_hold(name, wanted):
            continue  # the MANIFEST says this table's keys cannot include the wanted one
        try:
            with open_regular(folder / name) as handle:
                result.files_read += 1
                if name.endswith(".log"):
                    found = _log_lookup(handle, name, wanted, budget, result.skipped)
                else:
                    found = _table_lookup(handle, name, wanted, budget, bytewise=plan.bytewise)
        except LimitReached:
            raise
        except Unreadable as exc:
            result.skipped.append(f"{name}: {exc}; skipped")
            continue
        except FileNotFoundError:
            if strict and result.used_manifest:
                raise _Vanished from None
            result.skipped.append(f"{name} disappeared while being read; skipped")
            continue
        except OSError as exc:
            result.skipped.append(f"{name}: cannot be read ({_os_reason(exc)}); skipped")
            continue
        if found is not None and (best is None or found.sequence > best.sequence):
            best = found
    result.record = best


def _numbered(names: set[str], extension: str) -> list[tuple[int, str]]:
    found = []
    for name in names:
        match = _FILE_NAME.fullmatch(name)
        if match and match.group(2) == extension:
            found.append((int(match.group(1)), name))
    return sorted(found)


def _all_files(names: set[str]) -> list[str]:
    logs = [name for _number, name in _numbered(names, "log")]
    tables = [name for _number, name in sorted(_numbered(names, "ldb") + _numbered(names, "sst"))]
    return logs + tables


def _table_name(number: int, names: set[str]) -> str | None:
    for extension in ("ldb", "sst"):
        name = f"{number:06d}.{extension}"
        if name in names:
            return name
    return None


# --- the log format ---------------------------------------------------------------------------------


@dataclass
class _Fragment:
    checksum: int
    kind: int
    payload: bytes
    offset: int


def _physical_records(handle: BinaryIO, name: str, budget: Budget, problems: list[str]) -> Iterator[_Fragment]:
    """The physical records of a log, block by block (a record never crosses a 32 KiB block). A kind
    of 0 marks the end: a torn or damaged record also ends its block, and the reader resumes at the
    next one, as LevelDB does."""
    offset = 0
    while True:
        budget.charge(BLOCK_SIZE)
        block = handle.read(BLOCK_SIZE)
        budget.refund(BLOCK_SIZE - len(block))
        last_block = len(block) < BLOCK_SIZE
        pos = 0
        while len(block) - pos >= _HEADER:
            checksum, length, kind = struct.unpack_from("<IHB", block, pos)
            end = pos + _HEADER + length
            if kind == 0 and length == 0:
                break  # zeroes: preallocated space or the padding at a block's end
            if end > len(block):
                where = f"{name}: the last record (at byte {offset + pos}) is cut short; the records before it count"
                if not last_block:
                    where = f"{name}: a record at byte {offset + pos} claims {length} bytes, past its block; skipped"
                problems.append(where)
                yield _Fragment(0, 0, b"", offset + pos)  # breaks any record in progress
                break
            yield _Fragment(checksum, kind, block[pos + _HEADER : end], offset + pos)
            pos = end
        offset += len(block)
        budget.check_time()
        if last_block:
            return


def _log_records(
    handle: BinaryIO, name: str, budget: Budget, problems: list[str], *, wanted: bytes | None
) -> Iterator[bytes]:
    """The logical records of a log file, in order. With ``wanted``, only records containing those bytes
    are checksummed and yielded (the rest cannot matter); without it, every record is checked."""
    pending: list[_Fragment] | None = None
    pending_size = 0
    for fragment in _physical_records(handle, name, budget, problems):
        kind = fragment.kind
        if kind in (_FULL, _FIRST) and pending is not None:
            problems.append(f"{name}: a record split across blocks never ends (at byte {fragment.offset}); skipped")
            pending = None
        if kind == _FULL:
            yield from _checked([fragment], name, problems, wanted)
        elif kind == _FIRST:
            pending, pending_size = [fragment], len(fragment.payload)
        elif kind in (_MIDDLE, _LAST) and pending is not None:
            pending.append(fragment)
            pending_size += len(fragment.payload)
            if pending_size > MAX_PIECE_BYTES:
                problems.append(
                    f"{name}: a record at byte {pending[0].offset} is over {MAX_PIECE_BYTES} bytes; skipped"
                )
                pending = None
            elif kind == _LAST:
                yield from _checked(pending, name, problems, wanted)
                pending = None
        elif kind not in (_MIDDLE, _LAST):
            if kind != 0:
                problems.append(f"{name}: unknown record type {kind} at byte {fragment.offset}; skipped")
            pending = None
    if pending is not None:
        problems.append(
            f"{name}: the last record (at byte {pending[0].offset}) is cut short; the records before it count"
        )


def _checked(fragments: list[_Fragment], name: str, problems: list[str], wanted: bytes | None) -> Iterator[bytes]:
    record = fragments[0].payload if len(fragments) == 1 else b"".join(part.payload for part in fragments)
    if wanted is not None and wanted not in record:
        return
    for part in fragments:
        if masked_crc32c(bytes((part.kind,)) + part.payload) != part.checksum:
            problems.append(f"{name}: the record at byte {fragments[0].offset} fails its checksum; skipped")
            return
    yield record


def _log_lookup(handle: BinaryIO, name: str, wanted: bytes, budget: Budget, problems: list[str]) -> LevelValue | None:
    """The newest put or delete of ``wanted`` in a write-ahead log."""
    best: LevelValue | None = None
    for record in _log_records(handle, name, budget, problems, wanted=wanted):
        try:
            found = _batch_lookup(record, wanted)
        except Unreadable as exc:
            problems.append(f"{name}: a write batch is damaged ({exc}); skipped")
            continue
        for sequence, value in found:
            if best is None or sequence > best.sequence:
                best = LevelValue(value=value, sequence=sequence, file=name)
    return best


def _batch_lookup(record: bytes, wanted: bytes) -> list[tuple[int, bytes | None]]:
    """The puts and deletes of ``wanted`` in one WriteBatch (sequence u64, count u32, then records).
    The whole batch is checked before anything is returned: a damaged batch gives nothing."""
    if len(record) < 12:
        raise Unreadable(f"{len(record)} bytes, shorter than a batch header")
    base, count = struct.unpack_from("<QI", record, 0)
    if base + count > _MAX_SEQUENCE:
        raise Unreadable("its sequence numbers overflow")
    pos = 12
    found: list[tuple[int, bytes | None]] = []
    for index in range(count):
        if pos >= len(record):
            raise Unreadable(f"it says {count} records but holds {index}")
        kind = record[pos]
        key, pos = read_length_prefixed(record, pos + 1)
        value: bytes | None
        if kind == _TYPE_VALUE:
            value, pos = read_length_prefixed(record, pos)
        elif kind == _TYPE_DELETION:
            value = None
        else:
            raise Unreadable(f"unknown record kind {kind}")
        if key == wanted:
            found.append((base + index, value))
    if pos != len(record):
        raise Unreadable(f"{len(record) - pos} bytes follow its {count} records")
    return found


# --- the MANIFEST ---------------------------------------------------------------------------------


@dataclass
class _Manifest:
    comparator: str | None = None
    log_number: int = 0
    prev_log_number: int = 0
    files: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)

    def log_is_live(self, number: int) -> bool:
        return number >= self.log_number or (self.prev_log_number != 0 and number == self.prev_log_number)


def _read_manifest(folder: Path, names: set[str], budget: Budget) -> _Manifest:
    if "CURRENT" not in names:
        raise Unreadable("no CURRENT file")
    with open_regular(folder / "CURRENT") as handle:
        budget.charge(_MAX_SMALL_FILE)
        text = handle.read(_MAX_SMALL_FILE + 1)
    line = text.decode("ascii", errors="replace").rstrip("\n")
    if len(text) > _MAX_SMALL_FILE or not _MANIFEST_NAME.fullmatch(line):
        raise Unreadable("CURRENT does not name a MANIFEST-NNNNNN file")
    if line not in names:
        raise Unreadable(f"CURRENT names {line}, which is missing")
    manifest = _Manifest()
    problems: list[str] = []
    with open_regular(folder / line) as handle:
        for record in _log_records(handle, line, budget, problems, wanted=None):
            _apply_edit(manifest, record)
    if problems:
        raise Unreadable(problems[0])
    return manifest


def _apply_edit(manifest: _Manifest, record: bytes) -> None:
    """Apply one VersionEdit (tagged fields, LevelDB's version_edit encoding) to ``manifest``."""
    pos = 0
    while pos < len(record):
        tag, pos = read_varint(record, pos, limit_bits=32)
        if tag == 1:  # comparator name
            name, pos = read_length_prefixed(record, pos)
            manifest.comparator = name.decode("utf-8", errors="replace")
        elif tag == 2:  # log number
            manifest.log_number, pos = read_varint(record, pos)
        elif tag in (3, 4):  # next file number, last sequence: not needed
            _, pos = read_varint(record, pos)
        elif tag == 5:  # compact pointer: level, internal key
            _, pos = _read_level(record, pos)
            _, pos = read_length_prefixed(record, pos)
        elif tag == 6:  # deleted file: level, number
            _, pos = _read_level(record, pos)
            number, pos = read_varint(record, pos)
            manifest.files.pop(number, None)
        elif tag == 7:  # new file: level, number, size, smallest, largest
            _, pos = _read_level(record, pos)
            number, pos = read_varint(record, pos)
            _, pos = read_varint(record, pos)
            smallest, pos = read_length_prefixed(record, pos)
            largest, pos = read_length_prefixed(record, pos)
            if len(smallest) < 8 or len(largest) < 8:
                raise Unreadable(f"table {number} has a key range shorter than an internal key")
            manifest.files[number] = (smallest, largest)
        elif tag == 9:  # previous log number
            manifest.prev_log_number, pos = read_varint(record, pos)
        else:
            raise Unreadable(f"the MANIFEST has an unknown field {tag}")


def _read_level(record: bytes, pos: int) -> tuple[int, int]:
    level, pos = read_varint(record, pos, limit_bits=32)
    if level >= _NUM_LEVELS:
        raise Unreadable(f"the MANIFEST names level {level}")
    return level, pos


# --- tables ----------------------------------------------------------------------------------------


def _internal_less(a: bytes, b: bytes) -> bool:
    """LevelDB's order of internal keys: user key ascending, then (sequence, type) descending."""
    user_a, user_b = a[:-8], b[:-8]
    if user_a != user_b:
        return user_a < user_b
    return a[-8:][::-1] > b[-8:][::-1]  # the tags are little-endian u64: compare them big-endian


def _split_internal(key: bytes) -> tuple[bytes, int, int]:
    if len(key) < 8:
        raise Unreadable("a table key is shorter than 8 bytes")
    (tag,) = struct.unpack_from("<Q", key, len(key) - 8)
    return key[:-8], tag >> 8, tag & 0xFF


class _Block:
    """One decoded block: entries with shared key prefixes, then restart offsets and their count."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what
        if len(data) < 4:
            raise Unreadable(f"{what} is {len(data)} bytes, too short for a block")
        (count,) = struct.unpack_from("<I", data, len(data) - 4)
        if 4 + 4 * count > len(data):
            raise Unreadable(f"{what} claims {count} restart points, more than fit in it")
        self.end = len(data) - 4 - 4 * count
        self.restarts = struct.unpack_from(f"<{count}I", data, self.end)
        if any(offset >= self.end for offset in self.restarts):
            raise Unreadable(f"{what} has a restart point past its entries")

    def entries(self, pos: int, key: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries from ``pos`` (a restart point, or the position after ``key``) to the block's end."""
        data, end = self.data, self.end
        while pos < end:
            shared, pos = read_varint(data, pos, limit_bits=32)
            unshared, pos = read_varint(data, pos, limit_bits=32)
            value_length, pos = read_varint(data, pos, limit_bits=32)
            value_start = pos + unshared
            value_end = value_start + value_length
            if shared > len(key) or value_end > end:
                raise Unreadable(f"{self.what} has an entry running past its end")
            key = key[:shared] + data[pos:value_start]
            pos = value_end
            yield key, data[value_start:value_end]

    def _restart_key(self, index: int) -> bytes:
        for key, _value in self.entries(self.restarts[index]):
            return key
        raise Unreadable(f"{self.what} has an empty restart point")

    def seek(self, target: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Entries from the first whose internal key is >= ``target``: binary search over restart
        points (whose keys are stored whole), then a short linear scan."""
        if not self.restarts:
            return
        low, high = 0, len(self.restarts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if _internal_less(self._restart_key(middle), target):
                low = middle
            else:
                high = middle - 1
        for key, value in self.entries(self.restarts[low]):
            if len(key) < 8:
                raise Unreadable(f"{self.what} has a key shorter than 8 bytes")
            if not _internal_less(key, target):
                yield key, value


class _Table:
    def __init__(self, handle: BinaryIO, name: str, budget: Budget) -> None:
        self.handle = handle
        self.name = name
        self.budget = budget
        handle.seek(0, 2)
        self.size = handle.tell()
        if self.size < _FOOTER:
            raise Unreadable(f"{self.size} bytes, too short for a table")
        footer = read_exact(handle, self.size - _FOOTER, _FOOTER, budget, name)
        (magic,) = struct.unpack_from("<Q", footer, 40)
        if magic != TABLE_MAGIC:
            raise Unreadable("not a LevelDB table (wrong magic number)")
        _metaindex, pos = self._handle(footer, 0)
        self.index_handle, _ = self._handle(footer, pos)
        self.visited: set[int] = set()

    def _handle(self, data: bytes, pos: int) -> tuple[tuple[int, int], int]:
        offset, pos = read_varint(data, pos)
        size, pos = read_varint(data, pos)
        if offset + size + _TRAILER > self.size - _FOOTER:
            raise Unreadable(f"a block handle points past the end of the file ({offset}+{size})")
        if size > MAX_PIECE_BYTES:
            raise Unreadable(f"a block of {size} bytes is over the limit")
        return (offset, size), pos

    def block(self, handle: tuple[int, int], what: str) -> _Block:
        offset, size = handle
        if offset in self.visited:
            raise Unreadable(f"two block handles point at byte {offset}")
        self.visited.add(offset)
        raw = read_exact(self.handle, offset, size + _TRAILER, self.budget, self.name)
        (checksum,) = struct.unpack_from("<I", raw, size + 1)
        if masked_crc32c(raw[: size + 1]) != checksum:
            raise Unreadable(f"the {what} at byte {offset} fails its checksum")
        compression = raw[size]
        contents = raw[:size]
        if compression == 1:
            contents = snappy_decompress(contents, f"the {what} at byte {offset}")
        elif compression != 0:
            raise Unreadable(f"the {what} at byte {offset} uses compression {compression}, which is not read")
        return _Block(contents, f"the {what} at byte {offset}")

    def data_handles(self, target: bytes | None) -> Iterator[tuple[int, int]]:
        index = self.block(self.index_handle, "index block")
        for _key, value in index.entries(0) if target is None else index.seek(target):
            handle, _ = self._handle(value, 0)
            yield handle


def _table_lookup(handle: BinaryIO, name: str, wanted: bytes, budget: Budget, *, bytewise: bool) -> LevelValue | None:
    """The newest record for ``wanted`` in one table: the first entry at or after (wanted, newest)."""
    table = _Table(handle, name, budget)
    target = wanted + struct.pack("<Q", (_MAX_SEQUENCE << 8) | _TYPE_VALUE)
    if not bytewise:
        return _table_scan(table, wanted)
    for block_handle in table.data_handles(target):
        for key, value in table.block(block_handle, "data block").seek(target):
            user_key, sequence, kind = _split_internal(key)
            if user_key != wanted:
                return None
            return _table_value(name, sequence, kind, value)
        budget.check_time()  # nothing at or after the target in this block: the next one starts with it
    return None


def _table_scan(table: _Table, wanted: bytes) -> LevelValue | None:
    """Every entry of every block, for a key order we cannot search: bounded only by the budget."""
    best: LevelValue | None = None
    for block_handle in table.data_handles(None):
        block = table.block(block_handle, "data block")
        for key, value in block.entries(0):
            user_key, sequence, kind = _split_internal(key)
            if user_key == wanted and (best is None or sequence > best.sequence):
                best = _table_value(table.name, sequence, kind, value)
    return best


def _table_value(name: str, sequence: int, kind: int, value: bytes) -> LevelValue:
    if kind == _TYPE_VALUE:
        return LevelValue(value=value, sequence=sequence, file=name)
    if kind == _TYPE_DELETION:
        return LevelValue(value=None, sequence=sequence, file=name)
    raise Unreadable(f"a table entry has unknown kind {kind}")

"""What every reader shares: a budget of bytes and time, safe file opening, bounded snappy, CRC-32C.

A browser profile is data we did not write and cannot trust: any file may be damaged, truncated, a FIFO,
a symlink loop, or crafted. Each reader therefore reads through a :class:`Budget` (bytes per profile,
one deadline for the whole scan), opens only regular files, and decompresses only what says up front how
large it will be. Trouble is raised as :class:`Unreadable` (one line, no secret in it) for the caller to
turn into a "skipped" reason; nothing here logs.
"""

from __future__ import annotations

import os
import stat
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tray_app.errors import TokenFormatError
from tray_app.token import decode_token

#: The largest block, value or record decompressed or assembled in memory (a localStorage value of one
#: origin is at most about 10 MiB; LevelDB blocks are about 4 KiB).
MAX_PIECE_BYTES = 32 * 1024 * 1024

#: Snappy cannot expand data more than about 21 times (a 3-byte copy writes at most 64 bytes); a length
#: header claiming more than this is a bomb or garbage, refused before any memory is taken.
_SNAPPY_MAX_RATIO = 24

_CRC32C_POLY = 0x82F63B78  # Castagnoli, bit-reflected
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


class Unreadable(Exception):
    """A file, or a part of one, cannot be used; ``str()`` is one line saying why (never a value)."""


class LimitReached(Unreadable):
    """The byte or time budget ran out: stop reading this profile."""


@dataclass
class Budget:
    """Bytes one profile may read, and the moment the whole scan must stop (on ``clock``)."""

    max_bytes: int
    deadline: float
    seconds: float
    clock: Callable[[], float] = time.monotonic
    used: int = field(default=0)

    @classmethod
    def start(cls, max_bytes: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(max_bytes=max_bytes, deadline=clock() + seconds, seconds=seconds, clock=clock)

    def sibling(self) -> Budget:
        """A fresh byte budget sharing this one's deadline (the next profile of the same scan)."""
        return Budget(max_bytes=self.max_bytes, deadline=self.deadline, seconds=self.seconds, clock=self.clock)

    def charge(self, count: int) -> None:
        """Count ``count`` bytes about to be read; raise LimitReached if over either limit."""
        self.used += count
        if self.used > self.max_bytes:
            raise LimitReached(f"over the limit of {_size(self.max_bytes)} read per profile")
        self.check_time()

    def refund(self, count: int) -> None:
        """Give back bytes charged but not read (a short last block)."""
        self.used -= count

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            raise LimitReached(f"over the time limit of {self.seconds:g} s")

    def expired(self) -> bool:
        return self.clock() > self.deadline


#: A stored value longer than this is not a token (a real one is about 200 characters).
MAX_TOKEN_CHARS = 16 * 1024


@dataclass(frozen=True)
class Found:
    """A token one reader found in one profile: where it came from ("localStorage" or "cookie"), the file,
    and when it was written (unix seconds, 0 if unknown). The token never shows in ``repr``."""

    token: str
    source: str
    location: str
    when: float = 0.0

    def __repr__(self) -> str:
        return f"Found(token=<{len(self.token)} characters>, source={self.source!r}, location={self.location!r})"


def newest(found: Iterable[Found]) -> Found | None:
    """The newest of several tokens: the JWT that expires last (chat.qwen.ai issues each for about a week),
    then the latest written; one that is not a JWT loses to any that is."""

    def order(item: Found) -> tuple[int, int, float]:
        try:
            return (1, decode_token(item.token).expires_at, item.when)
        except TokenFormatError:
            return (0, 0, item.when)

    return max(found, key=order, default=None)


def check_token_text(text: str) -> str:
    """The stored text, stripped, if it could be a token; ValueError (no value in the message) if not."""
    token = text.strip()
    if not token:
        raise ValueError("the stored value is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(f"it holds {len(token)} characters, far more than a token")
    return token


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MiB"
    return f"{count} bytes"


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file: a FIFO, device or socket could block or
    never end. O_NONBLOCK keeps the open itself from waiting on a FIFO; a symlink loop raises OSError."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unreadable(f"{path.name} is not a regular file")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_exact(handle: BinaryIO, offset: int, count: int, budget: Budget, what: str) -> bytes:
    """``count`` bytes at ``offset``, charged to ``budget``; Unreadable if the file ends first."""
    budget.charge(count)
    handle.seek(offset)
    data = handle.read(count)
    if len(data) != count:
        raise Unreadable(f"{what} ends at byte {offset + len(data)}, inside what should be {count} bytes")
    return data


def read_varint(data: bytes, pos: int, *, limit_bits: int = 64) -> tuple[int, int]:
    """A little-endian base-128 number at ``pos`` and the position after it; at most 10 bytes and
    ``limit_bits`` bits, so a run of continuation bytes cannot grow a huge integer."""
    result = 0
    shift = 0
    end = min(len(data), pos + (limit_bits + 6) // 7)
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >> limit_bits:
                raise Unreadable(f"a number is wider than {limit_bits} bits")
            return result, pos
        shift += 7
    if pos >= len(data):
        raise Unreadable("a number runs past the end of its record")
    raise Unreadable(f"a number is longer than {(limit_bits + 6) // 7} bytes")


def read_length_prefixed(data: bytes, pos: int) -> tuple[bytes, int]:
    """A varint32 length, then that many bytes (LevelDB's Slice encoding)."""
    length, pos = read_varint(data, pos, limit_bits=32)
    end = pos + length
    if end > len(data):
        raise Unreadable(f"a length of {length} bytes runs past the end of its record")
    return data[pos:end], end


def snappy_decompress(data: bytes, what: str, *, max_bytes: int = MAX_PIECE_BYTES) -> bytes:
    """Raw snappy (no framing), refusing up front anything that would expand past ``max_bytes`` or
    beyond what snappy can produce from this many bytes (a decompression bomb)."""
    expected, _ = read_varint(data, 0, limit_bits=32)
    if expected > max_bytes:
        raise Unreadable(f"{what} would expand to {expected} bytes (at most {max_bytes} are decompressed)")
    if expected > _SNAPPY_MAX_RATIO * len(data) + 64:
        raise Unreadable(f"{what} claims {expected} bytes from {len(data)}: more than snappy can produce")
    try:
        import cramjam
    except ImportError as exc:
        raise Unreadable(f"{what} is snappy-compressed and cramjam is not installed") from exc
    out = bytearray(expected)
    try:
        written = cramjam.snappy.decompress_raw_into(data, out)
    except cramjam.DecompressionError as exc:
        raise Unreadable(f"{what} is not valid snappy data") from exc
    if written != expected:
        raise Unreadable(f"{what} decompressed to {written} bytes, not the {expected} it promised")
    return bytes(out)


# --- CRC-32C ------------------------------------------------------------------------------------------
# LevelDB checksums every log record and table block with CRC-32C (Castagnoli), "masked". Python's zlib
# has only the other CRC-32. A byte-at-a-time loop in Python costs ~70 ns a byte, too slow for the index
# blocks of ten 50 MB profiles, and we add no dependency for it. cramjam (already needed for snappy)
# writes snappy's *framing* format, which stores the masked CRC-32C of each uncompressed chunk of up to
# 64 KiB: the same function, computed in Rust. We read it from there and join chunks with the standard
# CRC combination (multiplication by x^(8n) modulo the polynomial). The pure loop remains the fallback
# and the reference the tests compare against.


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc32c_pure(data: bytes) -> int:
    """CRC-32C of ``data``, one byte at a time (the reference)."""
    crc = _U32
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _U32


def mask_crc(crc: int) -> int:
    """LevelDB's (and snappy framing's) masking: rotate right by 15 bits, add a constant."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask_crc(masked: int) -> int:
    rotated = (masked - _MASK_DELTA) & _U32
    return ((rotated >> 17) | (rotated << 15)) & _U32


def _multiply_mod_p(a: int, b: int) -> int:
    """a(x)·b(x) modulo the CRC polynomial, both in the reflected bit order CRCs use."""
    product = 0
    bit = 1 << 31
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _CRC32C_POLY if b & 1 else b >> 1
    return product


def _powers_of_x() -> tuple[int, ...]:
    """x^(2^k) modulo the polynomial for k = 0..63 (x^1 is 1 << 30 in reflected order)."""
    powers = [1 << 30]
    for _ in range(63):
        powers.append(_multiply_mod_p(powers[-1], powers[-1]))
    return tuple(powers)


_X_POWERS = _powers_of_x()


def crc32c_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC-32C of A+B from the CRCs of A and B and the length of B in bytes."""
    shift = 1 << 31  # the polynomial "1"
    bits = length_b * 8
    k = 0
    while bits:
        if bits & 1:
            shift = _multiply_mod_p(_X_POWERS[k % 64], shift)
        bits >>= 1
        k += 1
    return _multiply_mod_p(shift, crc_a) ^ crc_b


def _crc32c_from_framing(data: bytes) -> int:
    import cramjam

    framed = bytes(cramjam.snappy.compress(data))
    crc = 0
    pos = 10  # after the stream identifier chunk
    while pos + 4 <= len(framed):
        chunk_type = framed[pos]
        length = int.from_bytes(framed[pos + 1 : pos + 4], "little")
        body_start = pos + 8
        pos += 4 + length
        if chunk_type == 0x00:
            size, _ = read_varint(framed, body_start, limit_bits=32)
        elif chunk_type == 0x01:
            size = length - 4
        else:
            continue
        (masked,) = struct.unpack_from("<I", framed, body_start - 4)
        chunk_crc = unmask_crc(masked)
        crc = crc32c_combine(crc, chunk_crc, size) if crc else chunk_crc
    return crc


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data``: through cramjam's framing when it is installed, else the pure loop."""
    if not data:
        return 0
    try:
        return _crc32c_from_framing(data)
    except ImportError:
        return crc32c_pure(data)


def masked_crc32c(data: bytes) -> int:
    return mask_crc(crc32c(data))
